#!/usr/bin/env bash
# Install or remove the observability stack and Glassbox in the current kube context.
#   scripts/stack.sh install     kube-prometheus-stack, Loki, Promtail (or Alloy), Tempo, Valkey, Glassbox
#   scripts/stack.sh uninstall
# LOG_COLLECTOR=alloy picks Grafana Alloy instead of Promtail. IMAGE=repo:tag overrides
# the Glassbox image (kind-up loads a locally built one). Chart versions: helm/stack/versions.env.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
source <(sed 's/#.*//' helm/stack/versions.env)

MONITORING_NS=${MONITORING_NS:-monitoring}
APP_NS=${APP_NS:-glassbox}
LOG_COLLECTOR=${LOG_COLLECTOR:-promtail}
helm=$(command -v helm || echo .tools/bin/helm)
kubectl=$(command -v kubectl || echo .tools/bin/kubectl)

create_secrets() {
    "$kubectl" create namespace "$MONITORING_NS" --dry-run=client -o yaml | "$kubectl" apply -f -
    # Grafana's admin password: generated once, never a default. Read it back with
    #   kubectl -n monitoring get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d
    if ! "$kubectl" -n "$MONITORING_NS" get secret grafana-admin >/dev/null 2>&1; then
        "$kubectl" -n "$MONITORING_NS" create secret generic grafana-admin \
            --from-literal=admin-user=admin \
            --from-literal=admin-password="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)"
    fi
    # The shared prediction store's password, generated once; Glassbox reads the URL and it
    # from the same Secret in its own namespace (helm/stack/app-values.yaml).
    if ! "$kubectl" -n "$MONITORING_NS" get secret prediction-store >/dev/null 2>&1; then
        store_password="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
        "$kubectl" -n "$MONITORING_NS" create secret generic prediction-store \
            --from-literal=password="$store_password"
        "$kubectl" create namespace "$APP_NS" --dry-run=client -o yaml | "$kubectl" apply -f -
        "$kubectl" -n "$APP_NS" create secret generic prediction-store \
            --from-literal=PREDICTION_STORE_URL="redis://valkey.$MONITORING_NS.svc:6379/0" \
            --from-literal=PREDICTION_STORE_PASSWORD="$store_password" \
            --dry-run=client -o yaml | "$kubectl" apply -f -
    fi
    # Alertmanager runs the project's own config, monitoring/alertmanager/alertmanager.yaml.
    "$kubectl" -n "$MONITORING_NS" create secret generic alertmanager-glassbox \
        --from-file=alertmanager.yaml=monitoring/alertmanager/alertmanager.yaml \
        --dry-run=client -o yaml | "$kubectl" apply -f -
    # Loki's ruler mounts the log alerts from this ConfigMap (helm/stack/loki.yaml).
    "$kubectl" -n "$MONITORING_NS" create configmap loki-rules-glassbox \
        --from-file=monitoring/loki/rules/ \
        --dry-run=client -o yaml | "$kubectl" apply -f -
}

install() {
    case "$LOG_COLLECTOR" in promtail|alloy) ;; *) echo "LOG_COLLECTOR must be promtail or alloy" >&2; exit 2;; esac
    "$helm" repo add prometheus-community "$PROMETHEUS_COMMUNITY_REPO" --force-update
    "$helm" repo add grafana "$GRAFANA_REPO" --force-update
    "$helm" repo add valkey "$VALKEY_REPO" --force-update
    "$helm" repo add grafana-community "$GRAFANA_COMMUNITY_REPO" --force-update
    create_secrets
    "$helm" upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
        --version "$KUBE_PROMETHEUS_STACK_VERSION" --namespace "$MONITORING_NS" \
        -f helm/stack/kube-prometheus-stack.yaml --wait --timeout 10m
    "$helm" upgrade --install loki grafana/loki --version "$LOKI_VERSION" \
        --namespace "$MONITORING_NS" -f helm/stack/loki.yaml --wait --timeout 10m
    if [ "$LOG_COLLECTOR" = alloy ]; then
        "$helm" uninstall promtail --namespace "$MONITORING_NS" 2>/dev/null || true
        "$helm" upgrade --install alloy grafana/alloy --version "$ALLOY_VERSION" \
            --namespace "$MONITORING_NS" -f helm/stack/alloy.yaml --wait
    else
        "$helm" uninstall alloy --namespace "$MONITORING_NS" 2>/dev/null || true
        "$helm" upgrade --install promtail grafana/promtail --version "$PROMTAIL_VERSION" \
            --namespace "$MONITORING_NS" -f helm/stack/promtail.yaml --wait
    fi
    "$helm" upgrade --install valkey valkey/valkey --version "$VALKEY_VERSION" \
        --namespace "$MONITORING_NS" -f helm/stack/valkey.yaml --wait
    "$helm" upgrade --install tempo grafana-community/tempo --version "$TEMPO_VERSION" \
        --namespace "$MONITORING_NS" -f helm/stack/tempo.yaml --wait
    image_args=()
    if [ -n "${IMAGE:-}" ]; then
        image_args=(--set "image.repository=${IMAGE%:*}" --set "image.tag=${IMAGE##*:}")
    fi
    "$helm" upgrade --install glassbox helm/glassbox --namespace "$APP_NS" --create-namespace \
        -f helm/stack/app-values.yaml "${image_args[@]}" --wait --timeout 5m
    "$helm" test glassbox --namespace "$APP_NS"
    cat <<MSG
Installed. Grafana: kubectl -n $MONITORING_NS port-forward svc/kube-prometheus-stack-grafana 3000:80
  user admin, password: kubectl -n $MONITORING_NS get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d
Glassbox: kubectl -n $APP_NS port-forward svc/glassbox 8000:80
MSG
}

uninstall() {
    "$helm" uninstall glassbox --namespace "$APP_NS" || true
    for release in tempo valkey promtail alloy loki kube-prometheus-stack; do
        "$helm" uninstall "$release" --namespace "$MONITORING_NS" 2>/dev/null || true
    done
}

case "${1:-}" in
    install) install ;;
    uninstall) uninstall ;;
    *) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
