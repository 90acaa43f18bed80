"""`python -m lwt`: the same as the `lwt` console script."""

import sys

from lwt.entry import main

sys.exit(main())
