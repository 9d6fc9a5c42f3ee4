#!/usr/bin/env bash
# Install the real tools the test suite runs: Prometheus + promtool and
# Alertmanager + amtool, shellcheck and docker-compose, from Debian's packages. Idempotent; CI runs it as root.
set -euo pipefail

# Extra package names given as arguments (e.g. wrk for `make bench`) are installed too.
missing=()
for extra in "$@"; do command -v "$extra" >/dev/null 2>&1 || missing+=("$extra"); done
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 \
    || missing+=(prometheus-alertmanager)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
# Compose v1 validates compose.yaml offline (`docker-compose config`); no engine needed.
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install ${missing[*]} as root" >&2; exit 1; }
    sudo=sudo
fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
# No systemd here or in containers: the packages install but start nothing.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
