#!/usr/bin/env bash
# Run the shipped Prometheus (rules included) and Alertmanager on 127.0.0.1 next to
# `make run`: Prometheus on :9090 scrapes :8000, Alertmanager on :9093. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
data=.monitoring
mkdir -p "$data/prometheus" "$data/alertmanager"

prometheus-alertmanager --config.file=monitoring/alertmanager/alertmanager.yaml \
    --storage.path="$data/alertmanager" --web.listen-address=127.0.0.1:9093 \
    --cluster.listen-address= --log.level=warn &
alertmanager_pid=$!
trap 'kill "$alertmanager_pid" 2>/dev/null || true' EXIT

echo "Prometheus http://127.0.0.1:9090  Alertmanager http://127.0.0.1:9093"
prometheus --config.file=monitoring/prometheus/prometheus.yaml \
    --storage.tsdb.path="$data/prometheus" --web.listen-address=127.0.0.1:9090 --log.level=warn \
    --enable-feature=exemplar-storage
