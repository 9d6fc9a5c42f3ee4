"""The four Grafana dashboards, built as plain dicts and written as JSON.

Every panel reads its datasource from a template variable, never a fixed uid,
so the same JSON works in compose, in kube-prometheus-stack and in any Grafana.
"""

from typing import Any

from monitoring.mixin import config as c
from monitoring.mixin.rules import BUCKET_EXPECTED, BUCKET_SHARE, FEATURE_PSI

Panel = dict[str, Any]

PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}
S = f'{c.SELECTOR}, namespace=~"$namespace", pod=~"$pod"'
MODEL_S = f'{S}, model_version=~"$model_version"'
RATE = "$__rate_interval"
LOGS = '{app="glassbox", namespace=~"$namespace", pod=~"$pod"}'
LOGS_DASHBOARD_URL = "/d/glassbox-logs/glassbox-logs?${__url_time_range}&var-namespace=${namespace}"


def _target(
    expr: str, legend: str = "", ref: str = "A", ds: dict[str, str] = PROM, exemplar: bool = False
) -> dict[str, Any]:
    """exemplar=True draws the request ids Prometheus stored for the histogram's buckets;
    the Prometheus datasource links each to its log lines in Loki."""
    target: dict[str, Any] = {"refId": ref, "expr": expr, "datasource": ds}
    if legend:
        target["legendFormat"] = legend
    if exemplar:
        target["exemplar"] = True
    return target


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    ds: dict[str, str] = PROM,
    **extra: Any,
) -> Panel:
    refs = "ABCDEFGH"
    for index, target in enumerate(targets):
        target["refId"] = refs[index]
        target["datasource"] = ds
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": ds,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        **extra,
    }


def timeseries(title: str, description: str, *targets: dict[str, Any], **kw: Any) -> Panel:
    return panel("timeseries", title, description, list(targets), **kw)


def stat(title: str, description: str, *targets: dict[str, Any], **kw: Any) -> Panel:
    kw.setdefault("width", 6)
    kw.setdefault("height", 5)
    return panel("stat", title, description, list(targets), **kw)


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


def instant_table(title: str, description: str, expr: str, **kw: Any) -> Panel:
    return panel(
        "table", title, description, [{"expr": expr, "format": "table", "instant": True}], **kw
    )


def _layout(panels: list[Panel]) -> list[Panel]:
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


def _datasource_var(name: str, kind: str, label: str) -> dict[str, Any]:
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


def _query_var(name: str, query: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "query": {"query": query, "refId": f"{name}-values"},
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


NAMESPACE_VAR = _query_var(
    "namespace", f"label_values(model_info{{{c.SELECTOR}}}, namespace)", "Namespace"
)
POD_VAR = _query_var(
    "pod", f'label_values(model_info{{{c.SELECTOR}, namespace=~"$namespace"}}, pod)', "Pod"
)
MODEL_VERSION_VAR = _query_var(
    "model_version",
    f'label_values(model_info{{{c.SELECTOR}, namespace=~"$namespace"}}, model_version)',
    "Model version",
)
FEATURE_VAR = _query_var(
    "feature",
    f"label_values(model_feature_values_total{{{c.SELECTOR}}}, feature)",
    "Feature",
)
PROMETHEUS_VARS = [
    _datasource_var("datasource", "prometheus", "Prometheus"),
    NAMESPACE_VAR,
    POD_VAR,
]
HANDLER_VAR = _query_var(
    "handler", f"label_values(http_requests_total{{{c.SELECTOR}}}, handler)", "Handler"
)


def dashboard(
    uid: str, title: str, description: str, panels: list[Panel], variables: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [c.DASHBOARD_TAG],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "annotations": {"list": []},
        "links": [
            {
                "title": "Glassbox dashboards",
                "type": "dashboards",
                "tags": [c.DASHBOARD_TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables},
        "panels": _layout(panels),
    }


def _error_ratio(by: str, matchers: str) -> str:
    total = f"sum by ({by}) (rate(http_requests_total{{{matchers}}}[{RATE}]))"
    errors = f'sum by ({by}) (rate(http_requests_total{{{matchers}, status=~"5.."}}[{RATE}]))'
    return f"({errors} or {total} * 0) / {total}"


def _quantile(q: str, metric: str, by: str, matchers: str) -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{matchers}}}[{RATE}])))"
    )


LOGS_LINK = [{"title": "Error logs", "url": LOGS_DASHBOARD_URL, "targetBlank": False}]


def overview() -> dict[str, Any]:
    predict = f'{S}, handler="{c.SLO_HANDLER}"'
    panels = [
        timeseries(
            "Request rate by handler",
            "Requests per second, every handler, errors included.",
            _target(f"sum by (handler) (rate(http_requests_total{{{S}}}[{RATE}]))", "{{handler}}"),
            unit="reqps",
        ),
        timeseries(
            "Requests by status",
            "Requests per second by exact status code.",
            _target(f"sum by (status) (rate(http_requests_total{{{S}}}[{RATE}]))", "{{status}}"),
            unit="reqps",
        ),
        timeseries(
            "Server error ratio (5xx) by handler",
            "Share of requests answered 5xx. Click through to the error logs.",
            _target(_error_ratio("handler", S), "{{handler}}"),
            unit="percentunit",
            links=LOGS_LINK,
        ),
        timeseries(
            "Client errors (4xx) by status",
            "Rejected requests per second: 400 malformed JSON, 413 too large, 415 not JSON, "
            "422 invalid fields, 404/405 wrong route or method.",
            _target(
                f'sum by (handler, status) (rate(http_requests_total{{{S}, status=~"4.."}}[{RATE}]))',
                "{{handler}} {{status}}",
            ),
            unit="reqps",
            links=LOGS_LINK,
        ),
        timeseries(
            f"Latency p50 / p90 / p99 ({c.SLO_HANDLER})",
            "Request latency quantiles from http_request_duration_seconds. The dots are "
            "exemplars: one request id per bucket; click one for its log lines in Loki.",
            _target(_quantile("0.5", "http_request_duration_seconds", "handler", predict), "p50"),
            _target(_quantile("0.9", "http_request_duration_seconds", "handler", predict), "p90"),
            _target(
                _quantile("0.99", "http_request_duration_seconds", "handler", predict),
                "p99",
                exemplar=True,
            ),
            unit="s",
        ),
        heatmap(
            "Latency heatmap ($handler)",
            "Distribution of request latency for the handlers picked in the Handler variable.",
            f'increase(http_request_duration_seconds_bucket{{{S}, handler=~"$handler"}}[{RATE}])',
            unit="s",
            yAxis={"unit": "s"},
            color={"scheme": "Oranges"},
        ),
        stat(
            f"Availability SLO ({c.AVAILABILITY.objective:.1%}, {c.SLO_PERIOD})",
            f"Share of {c.SLO_HANDLER} requests not answered 5xx over {c.SLO_PERIOD}.",
            _target(
                f"1 - max(job:slo_availability_errors:ratio_rate{c.SLO_PERIOD}{{{c.SELECTOR}}})"
            ),
            unit="percentunit",
            decimals=3,
        ),
        stat(
            "Availability error budget remaining",
            f"1 means untouched, 0 means the {c.SLO_PERIOD} budget is spent.",
            _target(
                f"1 - max(job:slo_availability_errors:ratio_rate{c.SLO_PERIOD}{{{c.SELECTOR}}}) "
                f"/ {1 - c.AVAILABILITY.objective:.6g}"
            ),
            unit="percentunit",
        ),
        stat(
            f"Latency SLO ({c.LATENCY.objective:.0%} < {float(c.LATENCY_THRESHOLD_SECONDS) * 1000:.0f} ms)",
            f"Share of {c.SLO_HANDLER} requests faster than the threshold over {c.SLO_PERIOD}.",
            _target(f"1 - max(job:slo_latency_errors:ratio_rate{c.SLO_PERIOD}{{{c.SELECTOR}}})"),
            unit="percentunit",
            decimals=3,
        ),
        stat(
            "Latency error budget remaining",
            f"1 means untouched, 0 means the {c.SLO_PERIOD} budget is spent.",
            _target(
                f"1 - max(job:slo_latency_errors:ratio_rate{c.SLO_PERIOD}{{{c.SELECTOR}}}) "
                f"/ {1 - c.LATENCY.objective:.6g}"
            ),
            unit="percentunit",
        ),
        timeseries(
            "Error budget burn rate (1h)",
            "1 burns the budget exactly over the SLO period; 14.4 pages.",
            _target(
                f"max(job:slo_availability_errors:ratio_rate1h{{{c.SELECTOR}}}) / {1 - c.AVAILABILITY.objective:.6g}",
                "availability",
            ),
            _target(
                f"max(job:slo_latency_errors:ratio_rate1h{{{c.SELECTOR}}}) / {1 - c.LATENCY.objective:.6g}",
                "latency",
            ),
        ),
        instant_table(
            "Active alerts",
            "Glassbox alerts firing now, from Prometheus' ALERTS series.",
            'ALERTS{alertname=~"Glassbox.*", alertstate="firing"}',
            options={"showHeader": True},
        ),
    ]
    return dashboard(
        "glassbox-overview",
        "Glassbox / Service overview",
        "RED metrics, SLOs and active alerts of the Glassbox inference service.",
        panels,
        [*PROMETHEUS_VARS, HANDLER_VAR],
    )


def model() -> dict[str, Any]:
    predictions = f"model_predictions_total{{{MODEL_S}}}"
    panels = [
        timeseries(
            "Predictions per class",
            "Predicted rows per second by class, single and batch requests alike.",
            _target(
                f"sum by (predicted_class) (rate({predictions}[{RATE}]))", "{{predicted_class}}"
            ),
            unit="ops",
        ),
        timeseries(
            "Class mix against training priors",
            "Share of predictions per class (solid) and that class's share of the training "
            "data (dashed). A lasting gap is what GlassboxPredictionClassDrift alerts on.",
            _target(
                f"sum by (predicted_class) (rate({predictions}[{RATE}])) "
                f"/ scalar(sum(rate({predictions}[{RATE}])))",
                "{{predicted_class}} served",
            ),
            _target(
                f"max by (class) (model_class_prior{{{MODEL_S}}})",
                "{{class}} training prior",
            ),
            unit="percentunit",
        ),
        heatmap(
            "Confidence distribution",
            "Probability of the predicted class, per row.",
            f"increase(model_prediction_confidence_bucket{{{MODEL_S}}}[{RATE}])",
            unit="percentunit",
            color={"scheme": "Blues"},
        ),
        timeseries(
            "Mean confidence and low-confidence share",
            "Mean top-class probability, and the share of rows predicted with at most 60 % confidence.",
            _target(
                f"sum(rate(model_prediction_confidence_sum{{{MODEL_S}}}[{RATE}])) "
                f"/ sum(rate(model_prediction_confidence_count{{{MODEL_S}}}[{RATE}]))",
                "mean confidence",
            ),
            _target(
                f'sum(rate(model_prediction_confidence_bucket{{{MODEL_S}, le="0.6"}}[{RATE}])) '
                f"/ sum(rate(model_prediction_confidence_count{{{MODEL_S}}}[{RATE}]))",
                "confidence <= 0.6",
            ),
            unit="percentunit",
        ),
        timeseries(
            "Inference latency p50 / p99",
            "The predict_proba call alone, without HTTP, validation or serialisation.",
            _target(
                _quantile("0.5", "model_inference_duration_seconds", "model_version", MODEL_S),
                "p50 {{model_version}}",
            ),
            _target(
                _quantile("0.99", "model_inference_duration_seconds", "model_version", MODEL_S),
                "p99 {{model_version}}",
                exemplar=True,
            ),
            unit="s",
        ),
        timeseries(
            "Batch size",
            "Rows per model call: mean and p99 (1 for /predict).",
            _target(
                f"sum(rate(model_batch_size_sum{{{MODEL_S}}}[{RATE}])) "
                f"/ sum(rate(model_batch_size_count{{{MODEL_S}}}[{RATE}]))",
                "mean",
            ),
            _target(_quantile("0.99", "model_batch_size", "model_version", MODEL_S), "p99"),
        ),
        timeseries(
            f"Feature drift: PSI over {c.DRIFT_WINDOW}",
            "Population stability index of each input feature against the training split's "
            f"deciles. Below 0.1: stable; 0.1-0.2: moderate; above {c.DRIFT_PSI_THRESHOLD}: "
            "significant (GlassboxFeatureDrift).",
            _target(
                f'max by (feature) ({FEATURE_PSI}{{{c.SELECTOR}, model_version=~"$model_version"}})',
                "{{feature}}",
            ),
        ),
        timeseries(
            "Values outside the training range",
            "Feature values below the training minimum or above its maximum, per second.",
            _target(
                f"sum by (feature, side) "
                f"(rate(model_feature_out_of_range_total{{{MODEL_S}}}[{RATE}]))",
                "{{feature}} {{side}}",
            ),
            unit="reqps",
        ),
        panel(
            "bargauge",
            f"Live vs training share per decile bucket ($feature, {c.DRIFT_WINDOW})",
            "Share of the feature's values in each bucket between the training deciles: "
            "live over the last hour against the training split. Bucket 0 is up to the "
            "first decile, the last one above the last decile.",
            [
                {
                    "expr": f"max by (bucket) ({BUCKET_SHARE}"
                    f'{{{c.SELECTOR}, model_version=~"$model_version", feature="$feature"}})',
                    "legendFormat": "bucket {{bucket}} live",
                    "instant": True,
                },
                {
                    "expr": f"max by (bucket) ({BUCKET_EXPECTED}"
                    f'{{{c.SELECTOR}, model_version=~"$model_version", feature="$feature"}})',
                    "legendFormat": "bucket {{bucket}} training",
                    "instant": True,
                },
            ],
            unit="percentunit",
            width=24,
            height=10,
            options={"orientation": "horizontal", "displayMode": "basic"},
        ),
        instant_table(
            "Model versions in service",
            "Pods per model version served now (a version swapped out by a reload reports 0) "
            "and the scikit-learn version it was trained with.",
            f"count by (model_name, model_version, sklearn_version) (model_info{{{S}}} == 1)",
            width=24,
            height=6,
        ),
    ]
    return dashboard(
        "glassbox-model",
        "Glassbox / Model",
        "What the model predicts, how sure it is, how fast, and how the served class mix "
        "and the input features compare with the training data.",
        panels,
        [*PROMETHEUS_VARS, MODEL_VERSION_VAR, FEATURE_VAR],
    )


def logs() -> dict[str, Any]:
    access = f'{LOGS} | json | event="http_request"'
    panels = [
        timeseries(
            "Log volume by level",
            "Lines per level; level is a Promtail label.",
            _target(f"sum by (level) (count_over_time({LOGS}[$__auto]))", "{{level}}"),
            ds=LOKI,
        ),
        timeseries(
            "Errors per minute",
            "Lines logged at error or critical level, per minute.",
            _target(
                '(sum(count_over_time({app="glassbox", namespace=~"$namespace", pod=~"$pod", '
                'level=~"error|critical"}[1m])))',
                "errors/min",
            ),
            ds=LOKI,
        ),
        timeseries(
            "Rejected requests by status",
            "Access lines with a 4xx or 5xx status, per status.",
            _target(
                f"sum by (status) (count_over_time({access} | status >= 400 [$__auto]))",
                "{{status}}",
            ),
            ds=LOKI,
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
            ds=LOKI,
            unit="ms",
        ),
        panel(
            "logs",
            "Every line of request $request_id",
            "Paste a request_id (from an X-Request-ID header or an error body) in the textbox above; "
            "empty, the panel shows nothing.",
            # request_id is structured metadata: filtered before any parser, and `!= ""` keeps
            # an empty textbox from matching every line that has no request id.
            [{"expr": f'{LOGS} | request_id!="" | request_id="$request_id"'}],
            ds=LOKI,
            width=24,
            height=10,
            options={
                "showTime": True,
                "wrapLogMessage": True,
                "sortOrder": "Ascending",
                "enableLogDetails": True,
            },
        ),
        panel(
            "logs",
            "Error lines",
            "Lines at error or critical level; tracebacks are in the exception field.",
            [
                {
                    "expr": '{app="glassbox", namespace=~"$namespace", pod=~"$pod", level=~"error|critical"}'
                }
            ],
            ds=LOKI,
            width=24,
            height=10,
            options={
                "showTime": True,
                "wrapLogMessage": True,
                "sortOrder": "Descending",
                "enableLogDetails": True,
            },
        ),
    ]
    namespace = {
        "name": "namespace",
        "label": "Namespace",
        "type": "query",
        "datasource": LOKI,
        "query": {
            "label": "namespace",
            "stream": '{app="glassbox"}',
            "type": 1,
            "refId": "namespace-values",
        },
        "definition": 'label_values({app="glassbox"}, namespace)',
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
    pod = {
        **namespace,
        "name": "pod",
        "label": "Pod",
        "query": {
            "label": "pod",
            "stream": '{app="glassbox", namespace=~"$namespace"}',
            "type": 1,
            "refId": "pod-values",
        },
        "definition": 'label_values({app="glassbox", namespace=~"$namespace"}, pod)',
    }
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
        [_datasource_var("loki", "loki", "Loki"), namespace, pod, request_id],
    )


def capacity() -> dict[str, Any]:
    pods = f'namespace=~"$namespace", container="{c.CONTAINER}"'
    hpa = 'namespace=~"$namespace", horizontalpodautoscaler=~".*glassbox.*"'
    deploy = 'namespace=~"$namespace", deployment=~".*glassbox.*"'
    panels = [
        timeseries(
            "Replicas",
            "Desired and available replicas of the Deployment (kube-state-metrics).",
            _target(f"sum(kube_deployment_spec_replicas{{{deploy}}})", "desired"),
            _target(f"sum(kube_deployment_status_replicas_available{{{deploy}}})", "available"),
        ),
        timeseries(
            "HPA current / desired / min / max",
            "When current sits at max, GlassboxHpaMaxedOut fires (kube-state-metrics).",
            _target(
                f"sum(kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})", "current"
            ),
            _target(
                f"sum(kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}})", "desired"
            ),
            _target(f"sum(kube_horizontalpodautoscaler_spec_min_replicas{{{hpa}}})", "min"),
            _target(f"sum(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})", "max"),
        ),
        timeseries(
            "CPU per pod against requests and limits",
            "cAdvisor usage; the HPA scales on usage / requests.",
            _target(
                f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[{RATE}]))",
                "{{pod}}",
            ),
            _target(
                f'max(kube_pod_container_resource_requests{{{pods}, resource="cpu"}})', "request"
            ),
            _target(f'max(kube_pod_container_resource_limits{{{pods}, resource="cpu"}})', "limit"),
            unit="cores",
        ),
        timeseries(
            "Memory per pod against requests and limits",
            "cAdvisor working set: what the OOM killer compares with the limit.",
            _target(f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "{{pod}}"),
            _target(
                f'max(kube_pod_container_resource_requests{{{pods}, resource="memory"}})', "request"
            ),
            _target(
                f'max(kube_pod_container_resource_limits{{{pods}, resource="memory"}})', "limit"
            ),
            unit="bytes",
        ),
        timeseries(
            "Container restarts (1h)",
            "Restarts per pod over the last hour (kube-state-metrics).",
            _target(
                f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{pods}}}[1h]))",
                "{{pod}}",
            ),
        ),
        timeseries(
            "Requests per second per pod",
            "Load each pod serves, from the service's own metrics.",
            _target(f"sum by (pod) (rate(http_requests_total{{{S}}}[{RATE}]))", "{{pod}}"),
            unit="reqps",
        ),
    ]
    return dashboard(
        "glassbox-capacity",
        "Glassbox / Capacity",
        "Replicas, HPA, CPU and memory against requests and limits, restarts.",
        panels,
        PROMETHEUS_VARS,
    )


DASHBOARDS = {
    "glassbox-overview.json": overview,
    "glassbox-model.json": model,
    "glassbox-logs.json": logs,
    "glassbox-capacity.json": capacity,
}
