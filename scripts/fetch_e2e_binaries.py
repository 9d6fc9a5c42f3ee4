"""Download the pinned Loki, Promtail and Tempo release binaries, verified against each
release's published SHA256SUMS, for `make test-logs` (the e2e workflow's real-backend job).

    python scripts/fetch_e2e_binaries.py DEST >> "$GITHUB_ENV"

prints `LOKI_BIN=…`, `PROMTAIL_BIN=…` and `TEMPO_BIN=…`. Versions come from
helm/stack/versions.env (LOKI_APP_VERSION, PROMTAIL_APP_VERSION, TEMPO_APP_VERSION), the
same as compose.yaml's images. An archive whose digest is missing from, or differs from,
its release's SHA256SUMS is refused before it is unpacked. Standard library only: it runs
before any venv exists.
"""

import argparse
import hashlib
import io
import stat
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ROOT / "helm" / "stack" / "versions.env"
RELEASES = "https://github.com/grafana/{repo}/releases/download/v{version}/{asset}"
BINARIES = {
    "loki": "LOKI_APP_VERSION",
    "promtail": "PROMTAIL_APP_VERSION",
    "tempo": "TEMPO_APP_VERSION",
}
REPOS = {"loki": "loki", "promtail": "loki", "tempo": "tempo"}  # Promtail ships with Loki


def pinned_versions(path: Path = VERSIONS) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return {name: values[key] for name, key in BINARIES.items()}


def published_digests(sums: str) -> dict[str, str]:
    """`<sha256>  <file>` lines (sha256sum's format, `*` for binary mode allowed)."""
    digests = {}
    for line in sums.splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            digests[name.strip().lstrip("*")] = digest.lower()
    return digests


def verified(asset: str, content: bytes, digests: dict[str, str]) -> bytes:
    expected = digests.get(asset)
    if expected is None:
        raise SystemExit(f"{asset}: not listed in the release's SHA256SUMS; refusing it")
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise SystemExit(f"{asset}: sha256 {actual} differs from the published {expected}")
    return content


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (https or test file URL)
        body: bytes = response.read()
        return body


def release_asset(name: str, version: str, arch: str) -> str:
    """Loki's releases zip each binary; Tempo's (goreleaser) tar them together."""
    if name == "tempo":
        return f"tempo_{version}_linux_{arch}.tar.gz"
    return f"{name}-linux-{arch}.zip"


def unpacked(name: str, asset: str, content: bytes, arch: str) -> bytes:
    if asset.endswith(".tar.gz"):
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            binary = archive.extractfile(name)  # the top-level binary; nothing else is read
            if binary is None:
                raise SystemExit(f"{asset}: {name} is not a file")
            return binary.read()
    with zipfile.ZipFile(io.BytesIO(content)) as zipped:
        (member,) = [m for m in zipped.namelist() if m == f"{name}-linux-{arch}"]
        return zipped.read(member)


def fetch(name: str, version: str, dest: Path, releases: str, arch: str) -> Path:
    asset = release_asset(name, version, arch)
    where = {"repo": REPOS[name], "version": version}
    sums = _download(releases.format(**where, asset="SHA256SUMS")).decode()
    content = verified(
        asset, _download(releases.format(**where, asset=asset)), published_digests(sums)
    )
    target = dest / name
    target.write_bytes(unpacked(name, asset, content, arch))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--releases", default=RELEASES, help="URL template of release assets")
    parser.add_argument("--arch", default="amd64")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    for name, version in pinned_versions().items():
        path = fetch(name, version, args.dest.resolve(), args.releases, args.arch)
        print(f"{name.upper()}_BIN={path}")
        print(f"{name} {version}: sha256 verified, {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
