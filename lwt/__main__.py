"""`python -m lwt`: the same as the `lwt` console script."""

import sys

from lwt.cli import main

sys.exit(main())
