"""Prometheus recording and alerting rules, named `level:metric:operations`: one file per
domain (kubernetes-mixin's split), composed here into the two generated files' groups."""

from typing import Any

from monitoring.mixin.rules import (
    drift,
    http,
    kubernetes,
    model,
    quality,
    service,
    slo,
    tracing,
)


def recording_groups() -> dict[str, Any]:
    return {
        "groups": [
            {"name": "glassbox.http.rules", "rules": http.http_rules()},
            {"name": "glassbox.model.rules", "rules": model.model_rules()},
            {"name": "glassbox.drift.rules", "rules": drift.drift_rules()},
            {"name": "glassbox.quality.rules", "rules": quality.quality_rules()},
            {"name": "glassbox.slo.rules", "rules": slo.slo_rules()},
        ]
    }


def alert_groups() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "glassbox.alerts",
                "rules": service.service_alerts()
                + drift.drift_alerts()
                + quality.quality_alerts()
                + quality.estimate_alerts()
                + quality.store_alerts()
                + tracing.tracing_alerts(),
            },
            {"name": "glassbox.kubernetes.alerts", "rules": kubernetes.kubernetes_alerts()},
        ]
    }
