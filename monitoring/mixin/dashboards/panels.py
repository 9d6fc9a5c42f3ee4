"""Panel, variable and dashboard builders shared by the four dashboards, and the selectors
they filter with (from monitoring/mixin/config.py, so a renamed job changes everywhere).

Every panel reads its datasource from a template variable, never a fixed uid, so the same
JSON works in compose, in kube-prometheus-stack and in any Grafana.
"""

from typing import Any

from monitoring.mixin import config

Panel = dict[str, Any]

PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}
SERVICE = f'{config.SELECTOR}, namespace=~"$namespace", pod=~"$pod"'
MODEL = f'{SERVICE}, model_version=~"$model_version"'
RATE = "$__rate_interval"
LOGS = f'{{{config.LOG_MATCHER}, namespace=~"$namespace", pod=~"$pod"}}'
LOGS_DASHBOARD_URL = "/d/glassbox-logs/glassbox-logs?${__url_time_range}&var-namespace=${namespace}"


def target(expr: str, legend: str = "", exemplar: bool = False) -> dict[str, Any]:
    """One query of a panel (panel() sets its refId and datasource). exemplar=True draws the
    request ids Prometheus stored for a histogram's buckets, each a link to its Loki lines."""
    query: dict[str, Any] = {"refId": "A", "expr": expr, "datasource": PROM}
    if legend:
        query["legendFormat"] = legend
    if exemplar:
        query["exemplar"] = True
    return query


Steps = list[tuple[str, float | None]]  # (colour, from this value up); the first from -inf


def green_amber_red(amber: float, red: float) -> Steps:
    """Higher is worse: green below `amber`, amber below `red`, red from `red` up."""
    return [("green", None), ("orange", amber), ("red", red)]


def red_amber_green(amber: float, green: float) -> Steps:
    """Higher is better: red below `amber`, amber below `green`, green from `green` up."""
    return [("red", None), ("orange", amber), ("green", green)]


UP_DOWN = [("red", None), ("green", 1.0)]


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    datasource: dict[str, str] = PROM,
    thresholds: Steps | None = None,
    mappings: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Panel:
    """`thresholds` colour a stat's value, and draw dashed lines on a time series."""
    refs = "ABCDEFGH"
    for index, query in enumerate(targets):
        query["refId"] = refs[index]
        query["datasource"] = datasource
    defaults: dict[str, Any] = {"unit": unit}
    if thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in thresholds],
        }
        if kind == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "dashed"}}
        else:
            defaults["color"] = {"mode": "thresholds"}
    if mappings:
        defaults["mappings"] = mappings
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        **extra,
    }


def value_text(*pairs: tuple[int, str, str]) -> list[dict[str, Any]]:
    """Grafana value mappings: (value, text, colour), e.g. (1, "UP", "green")."""
    return [
        {
            "type": "value",
            "options": {
                str(value): {"text": text, "color": color, "index": index}
                for index, (value, text, color) in enumerate(pairs)
            },
        }
    ]


def timeseries(title: str, description: str, *targets: dict[str, Any], **options: Any) -> Panel:
    return panel("timeseries", title, description, list(targets), **options)


def stat(title: str, description: str, *targets: dict[str, Any], **options: Any) -> Panel:
    options.setdefault("width", 6)
    options.setdefault("height", 5)
    return panel("stat", title, description, list(targets), **options)


def heatmap(title: str, description: str, bucket_rate: str, unit: str, **options: Any) -> Panel:
    """A heatmap of pre-bucketed histogram increases (Grafana must not re-bucket them)."""
    target = {
        "expr": f"sum by (le) ({bucket_rate})",
        "format": "heatmap",
        "legendFormat": "{{le}}",
        "exemplar": True,  # request ids over the cells they fell in
    }
    return panel(
        "heatmap", title, description, [target], unit=unit, options={"calculate": False, **options}
    )


def log_lines(title: str, description: str, expr: str, order: str) -> Panel:
    """A full-width Loki logs panel; `order` is Ascending (a request's story) or Descending."""
    return panel(
        "logs",
        title,
        description,
        [{"expr": expr}],
        datasource=LOKI,
        width=24,
        height=10,
        options={
            "showTime": True,
            "wrapLogMessage": True,
            "sortOrder": order,
            "enableLogDetails": True,
        },
    )


def instant_table(title: str, description: str, expr: str, **options: Any) -> Panel:
    return panel(
        "table", title, description, [{"expr": expr, "format": "table", "instant": True}], **options
    )


def layout(panels: list[Panel]) -> list[Panel]:
    """Flow panels left to right into 24-column rows; ids in reading order."""
    x = y = row_height = 0
    for number, item in enumerate(panels, start=1):
        width, height = item["gridPos"]["w"], item["gridPos"]["h"]
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        item["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
        item["id"] = number
        x += width
        row_height = max(row_height, height)
    return panels


def datasource_variable(name: str, kind: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "datasource",
        "query": kind,
        "current": {},
        "hide": 0,
        "refresh": 1,
        "includeAll": False,
        "multi": False,
        "options": [],
        "regex": "",
    }


def query_variable(
    name: str,
    query: str,
    label: str,
    datasource: dict[str, str] = PROM,
    query_model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A multi-value variable with All; `query_model` is the datasource's own form of the
    query when it is not PromQL's (Loki's label-values query)."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": datasource,
        "query": query_model or {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "current": {},
        "hide": 0,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "options": [],
        "regex": "",
        "sort": 1,
    }


def loki_label_variable(name: str, stream: str, label: str) -> dict[str, Any]:
    """The values of one Loki label among the streams `stream` selects."""
    model = {"label": name, "stream": stream, "type": 1, "refId": f"{name}-values"}
    return query_variable(name, f"label_values({stream}, {name})", label, LOKI, model)


NAMESPACE_VAR = query_variable(
    "namespace", f"label_values(model_info{{{config.SELECTOR}}}, namespace)", "Namespace"
)
POD_VAR = query_variable(
    "pod", f'label_values(model_info{{{config.SELECTOR}, namespace=~"$namespace"}}, pod)', "Pod"
)
MODEL_VERSION_VAR = query_variable(
    "model_version",
    f'label_values(model_info{{{config.SELECTOR}, namespace=~"$namespace"}}, model_version)',
    "Model version",
)
FEATURE_VAR = query_variable(
    "feature",
    f"label_values(model_feature_values_total{{{config.SELECTOR}}}, feature)",
    "Feature",
)
PROMETHEUS_VARS = [
    datasource_variable("datasource", "prometheus", "Prometheus"),
    NAMESPACE_VAR,
    POD_VAR,
]
HANDLER_VAR = query_variable(
    "handler", f"label_values(http_requests_total{{{config.SELECTOR}}}, handler)", "Handler"
)


# A new (pod, model_version) pair in model_info: a pod started on, or swapped to, a version.
MODEL_SWAPS = {
    "name": "Model swaps",
    "datasource": PROM,
    "enable": True,
    "iconColor": "purple",
    "expr": f"max by (namespace, pod, model_version) (model_info{{{SERVICE}}} == 1) "
    f"unless max by (namespace, pod, model_version) (model_info{{{SERVICE}}} offset 1m == 1)",
    "step": "1m",
    "titleFormat": "model {{model_version}}",
    "textFormat": "{{pod}} now serves {{model_version}} (start, reload or rollout)",
    "tagKeys": "pod,model_version",
    "useValueForTime": False,
}


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[Panel],
    variables: list[dict[str, Any]],
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [config.DASHBOARD_TAG],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "annotations": {"list": annotations or []},
        "links": [
            {
                "title": "Glassbox dashboards",
                "type": "dashboards",
                "tags": [config.DASHBOARD_TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables},
        "panels": layout(panels),
    }


def error_ratio(by: str, matchers: str) -> str:
    total = f"sum by ({by}) (rate(http_requests_total{{{matchers}}}[{RATE}]))"
    errors = f'sum by ({by}) (rate(http_requests_total{{{matchers}, status=~"5.."}}[{RATE}]))'
    return f"({errors} or {total} * 0) / {total}"


def quantile(q: str, metric: str, by: str, matchers: str) -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{matchers}}}[{RATE}])))"
    )


LOGS_LINK = [{"title": "Error logs", "url": LOGS_DASHBOARD_URL, "targetBlank": False}]
