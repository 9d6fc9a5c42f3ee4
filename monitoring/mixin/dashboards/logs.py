"""Glassbox / Logs: Loki panels, and every line of one request id."""

from typing import Any

from monitoring.mixin import config
from monitoring.mixin.dashboards.panels import (
    LOGS,
    LOKI,
    dashboard,
    datasource_variable,
    log_lines,
    loki_label_variable,
    panel,
    target,
    timeseries,
)


def build() -> dict[str, Any]:
    access = f'{LOGS} | json | event="http_request"'
    panels = [
        timeseries(
            "Log volume by level",
            "Lines per level; level is a Promtail label.",
            target(f"sum by (level) (count_over_time({LOGS}[$__auto]))", "{{level}}"),
            datasource=LOKI,
        ),
        timeseries(
            "Errors per minute",
            "Lines logged at error or critical level, per minute.",
            target(
                f'(sum(count_over_time({{{config.LOG_MATCHER}, namespace=~"$namespace", pod=~"$pod", '
                'level=~"error|critical"}[1m])))',
                "errors/min",
            ),
            datasource=LOKI,
        ),
        timeseries(
            "Rejected requests by status",
            "Access lines with a 4xx or 5xx status, per status.",
            target(
                f"sum by (status) (count_over_time({access} | status >= 400 [$__auto]))",
                "{{status}}",
            ),
            datasource=LOKI,
        ),
        panel(
            "table",
            "Slowest requests",
            "The ten slowest access lines in the time range, by route.",
            [
                {
                    "expr": f"topk(10, max by (path) (max_over_time({access} | unwrap duration_ms [$__range])))",
                    "queryType": "instant",
                    "legendFormat": "{{path}}",
                }
            ],
            datasource=LOKI,
            unit="ms",
        ),
        log_lines(
            "Every line of request $request_id",
            "Paste a request_id (from an X-Request-ID header or an error body) in the textbox above; "
            "empty, the panel shows nothing.",
            # request_id is structured metadata: filtered before any parser, and `!= ""` keeps
            # an empty textbox from matching every line that has no request id.
            f'{LOGS} | request_id!="" | request_id="$request_id"',
            "Ascending",
        ),
        log_lines(
            "Error lines",
            "Lines at error or critical level; tracebacks are in the exception field.",
            f'{{{config.LOG_MATCHER}, namespace=~"$namespace", pod=~"$pod", level=~"error|critical"}}',
            "Descending",
        ),
    ]
    namespace = loki_label_variable("namespace", config.LOG_SELECTOR, "Namespace")
    pod = loki_label_variable("pod", f'{{{config.LOG_MATCHER}, namespace=~"$namespace"}}', "Pod")
    request_id = {
        "name": "request_id",
        "label": "request_id",
        "type": "textbox",
        "query": "",
        "current": {"text": "", "value": ""},
        "hide": 0,
        "options": [],
    }
    return dashboard(
        "glassbox-logs",
        "Glassbox / Logs",
        "Loki: log volume, errors, slow requests, and every line of one request by request_id.",
        panels,
        [datasource_variable("loki", "loki", "Loki"), namespace, pod, request_id],
    )
