"""Loki ruler alerts: what only the log lines can say.

Metrics count a 5xx or a refused request by status; the lines say that the 5xx was an
unhandled exception, that the model failed to load and why, or which limit refused a
client. Each expression filters the line text first (cheap), then extracts only the JSON
keys it needs (`| json event, error_code`), so the stream's `level` label is never
shadowed by a `level_extracted`. Loki evaluates them with its ruler and sends the alerts
to the same Alertmanager as Prometheus (monitoring/loki/loki.yaml).
"""

from typing import Any

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert

# Codes the HTTP edge writes on the access line of a request it refused before the app
# (app/server/protocol.py), plus request ids refused by the request-id middleware.
EDGE_REFUSALS = (
    "malformed_request",
    "request_header_fields_too_large",
    "request_timeout",
    "too_many_connections",
)


def _count(window: str, line_filter: str, extract: str, label_filter: str, by: str) -> str:
    operator = "|~" if "|" in line_filter else "|="  # a substring match is cheaper than a regex
    return (
        f"sum by ({by}) (count_over_time({c.LOG_SELECTOR} {operator} `{line_filter}`"
        f" | json {extract} | {label_filter} [{window}]))"
    )


def log_alerts() -> list[Rule]:
    refusals = "|".join(EDGE_REFUSALS)
    return [
        alert(
            "GlassboxUnhandledExceptions",
            _count(
                "5m",
                "unhandled_exception",
                "event",
                'event="unhandled_exception"',
                "namespace, pod",
            )
            + f" >= {c.UNHANDLED_EXCEPTIONS_BURST}",
            "0m",
            "warning",
            "Glassbox is raising unhandled exceptions.",
            f"{{{{ $value }}}} unhandled_exception lines in 5 min on {{{{ $labels.pod }}}} "
            f"(threshold {c.UNHANDLED_EXCEPTIONS_BURST}): each was a 500 with a traceback.",
        ),
        alert(
            "GlassboxModelLoadFailed",
            _count(
                "10m",
                "model_load_failed",
                "event, reason",
                'event="model_load_failed"',
                "namespace, pod, reason",
            )
            + " > 0",
            "0m",
            "critical",
            "Glassbox could not load its model.",
            "{{ $labels.pod }} logged model_load_failed ({{ $labels.reason }}) in the last "
            "10 min: it stays unready and serves no prediction.",
        ),
        alert(
            "GlassboxEdgeRefusalsBurst",
            _count(
                "10m",
                f"request_id_rejected|{refusals}",
                "event, error_code",
                f'event="request_id_rejected" or error_code=~"{refusals}"',
                "namespace",
            )
            + f" > {c.EDGE_REFUSALS_BURST}",
            "0m",
            "warning",
            "Many requests refused before reaching the model.",
            f"{{{{ $value }}}} requests in {{{{ $labels.namespace }}}} were refused in 10 min "
            "for malformed HTTP, header size or time limits, the connection limit or an "
            f"invalid X-Request-ID (threshold {c.EDGE_REFUSALS_BURST}).",
        ),
    ]


def log_alert_groups() -> dict[str, Any]:
    return {"groups": [{"name": "glassbox.log-alerts", "interval": "1m", "rules": log_alerts()}]}
