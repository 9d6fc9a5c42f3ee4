#!/usr/bin/env bash
# A local kind cluster with the stack and Glassbox, for users with Docker and kind.
# Not run in this project's CI (no Docker engine there).
#   scripts/kind.sh up | down
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-glassbox}
IMAGE=${IMAGE:-glassbox:dev}

case "${1:-}" in
    up)
        command -v kind >/dev/null || { echo "install kind: https://kind.sigs.k8s.io" >&2; exit 1; }
        kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
        docker build -t "$IMAGE" .
        kind load docker-image "$IMAGE" --name "$CLUSTER"
        IMAGE="$IMAGE" scripts/stack.sh install
        ;;
    down)
        kind delete cluster --name "$CLUSTER"
        ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
