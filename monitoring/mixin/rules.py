"""Prometheus recording and alerting rules, named `level:metric:operations`.

Error ratios are written `(errors or total * 0) / total` so they are 0, not
absent, while nothing fails: recording rules always produce series and an
alert can tell "no errors" from "no data".
"""

from typing import Any

from monitoring.mixin import config as c

Rule = dict[str, Any]

PREDICT_HANDLERS = 'handler=~"/predict|/predict/batch"'
SERVER_ERROR = 'status=~"5.."'
SLO_HANDLER_MATCHER = f'handler="{c.SLO_HANDLER}"'
LATENCY_BUCKET = f'le="{c.LATENCY_THRESHOLD_SECONDS}"'


def _sel(*matchers: str) -> str:
    return "{" + ", ".join((c.SELECTOR, *matchers)) + "}"


def _ratio(errors: str, total: str, by: str) -> str:
    return f"(\n  sum by ({by}) ({errors})\n  or\n  sum by ({by}) ({total}) * 0\n)\n/\nsum by ({by}) ({total})"


def http_rules() -> list[Rule]:
    rules: list[Rule] = [
        {
            "record": "job:http_requests:rate5m",
            "expr": f"sum by (job) (rate(http_requests_total{_sel()}[5m]))",
        },
        {
            "record": "job_handler_status:http_requests:rate5m",
            "expr": f"sum by (job, handler, status) (rate(http_requests_total{_sel()}[5m]))",
        },
        {
            "record": "job:http_request_errors:ratio_rate5m",
            "expr": _ratio(
                f"rate(http_requests_total{_sel(SERVER_ERROR)}[5m])",
                f"rate(http_requests_total{_sel()}[5m])",
                "job",
            ),
        },
        {
            "record": "job_handler:http_request_errors:ratio_rate5m",
            "expr": _ratio(
                f"rate(http_requests_total{_sel(SERVER_ERROR)}[5m])",
                f"rate(http_requests_total{_sel()}[5m])",
                "job, handler",
            ),
        },
    ]
    for quantile in ("50", "90", "99"):
        rules.append(
            {
                "record": f"job_handler:http_request_duration_seconds:p{quantile}_5m",
                "expr": f"histogram_quantile(0.{quantile}, sum by (job, handler, le) "
                f"(rate(http_request_duration_seconds_bucket{_sel()}[5m])))",
            }
        )
    return rules


def model_rules() -> list[Rule]:
    predictions = f"model_predictions_total{_sel()}"
    rules: list[Rule] = [
        {
            "record": "job_model_class:model_predictions:rate5m",
            "expr": f"sum by (job, model_name, model_version, predicted_class) "
            f"(rate({predictions}[5m]))",
        },
        {
            "record": "job_model:model_predictions:rate5m",
            "expr": f"sum by (job, model_name, model_version) (rate({predictions}[5m]))",
        },
        {
            # The label is renamed to `class` so the share joins the training prior.
            "record": "job_model_class:model_predictions:share_rate1h",
            "expr": (
                f"sum by (job, model_version, class) (\n"
                f'  label_replace(rate({predictions}[1h]), "class", "$1", "predicted_class", "(.*)")\n'
                f")\n/ on (job, model_version) group_left\n"
                f"sum by (job, model_version) (rate({predictions}[1h]))"
            ),
        },
        {
            "record": "job_model_class:model_class_prior:max",
            "expr": f"max by (job, model_version, class) (model_class_prior{_sel()})",
        },
    ]
    for quantile in ("50", "99"):
        rules.append(
            {
                "record": f"job_model:model_inference_duration_seconds:p{quantile}_5m",
                "expr": f"histogram_quantile(0.{quantile}, sum by (job, model_version, le) "
                f"(rate(model_inference_duration_seconds_bucket{_sel()}[5m])))",
            }
        )
    return rules


def slo_error_ratio(slo: c.Slo, window: str) -> str:
    total = f"rate(http_requests_total{_sel(SLO_HANDLER_MATCHER)}[{window}])"
    if slo is c.AVAILABILITY:
        errors = f"rate(http_requests_total{_sel(SLO_HANDLER_MATCHER, SERVER_ERROR)}[{window}])"
        return _ratio(errors, total, "job")
    count = f"rate(http_request_duration_seconds_count{_sel(SLO_HANDLER_MATCHER)}[{window}])"
    fast = f"rate(http_request_duration_seconds_bucket{_sel(SLO_HANDLER_MATCHER, LATENCY_BUCKET)}[{window}])"
    return f"1 - (\n  sum by (job) ({fast})\n  /\n  sum by (job) ({count})\n)"


def slo_record(slo: c.Slo, window: str) -> str:
    return f"job:slo_{slo.name}_errors:ratio_rate{window}"


def error_budget(slo: c.Slo) -> float:
    """The share of requests the objective allows to fail, e.g. 0.001 for 99.9 %."""
    return round(1 - slo.objective, 6)


def burn_rate_expr(slo: c.Slo, window: str) -> str:
    """How fast the budget burns over `window`: 1 spends it exactly in the SLO period."""
    return f"max({slo_record(slo, window)}{{{c.SELECTOR}}}) / {error_budget(slo):.6g}"


def budget_remaining_expr(slo: c.Slo) -> str:
    """1 untouched, 0 spent: what the SLO period's burn left."""
    return f"1 - {burn_rate_expr(slo, c.SLO_PERIOD)}"


def slo_attainment_expr(slo: c.Slo) -> str:
    return f"1 - max({slo_record(slo, c.SLO_PERIOD)}{{{c.SELECTOR}}})"


def slo_requests_record(window: str) -> str:
    return f"job:slo_requests:rate{window}"


def slo_rules() -> list[Rule]:
    ratios: list[Rule] = [
        {"record": slo_record(slo, window), "expr": slo_error_ratio(slo, window)}
        for slo in (c.AVAILABILITY, c.LATENCY)
        for window in (*c.RATE_WINDOWS, c.SLO_PERIOD)
    ]
    long_windows = dict.fromkeys(w.long for w in (*c.FAST_BURN, *c.SLOW_BURN))
    requests: list[Rule] = [
        {
            "record": slo_requests_record(window),
            "expr": f"sum by (job) (rate(http_requests_total{_sel(SLO_HANDLER_MATCHER)}[{window}]))",
        }
        for window in long_windows
    ]
    return ratios + requests


_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


def _annotations(alert: str, summary: str, description: str) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "runbook_url": f"{c.RUNBOOK_URL}#{alert.lower()}",
    }


def alert(
    name: str,
    expr: str,
    duration: str,
    severity: str,
    summary: str,
    description: str,
    **labels: str,
) -> Rule:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, **labels},
        "annotations": _annotations(name, summary, description),
    }


def _burn_expr(slo: c.Slo, windows: tuple[c.BurnWindow, ...]) -> str:
    budget = error_budget(slo)
    clauses = [
        f"(\n  {slo_record(slo, w.long)} > ({w.factor} * {budget})\n  and\n"
        f"  {slo_record(slo, w.short)} > ({w.factor} * {budget})\n  and\n"
        f"  {slo_requests_record(w.long)} * {_seconds(w.long)} >= {c.BURN_MIN_REQUESTS}\n)"
        for w in windows
    ]
    return "\nor\n".join(clauses)


def burn_alerts() -> list[Rule]:
    alerts: list[Rule] = []
    for slo in (c.AVAILABILITY, c.LATENCY):
        objective = f"{slo.objective:.1%}".replace(".0%", "%")
        for name, windows, speed in (
            ("GlassboxErrorBudgetBurnFast", c.FAST_BURN, "fast"),
            ("GlassboxErrorBudgetBurnSlow", c.SLOW_BURN, "slow"),
        ):
            spans = " or ".join(f"{w.long}/{w.short} at {w.factor}x" for w in windows)
            alerts.append(
                alert(
                    name,
                    _burn_expr(slo, windows),
                    "2m" if speed == "fast" else "1h",
                    windows[0].severity,
                    f"Glassbox is burning its {slo.name} error budget {speed}.",
                    f"{{{{ $labels.job }}}}: {{{{ $value | humanizePercentage }}}} of "
                    f"{c.SLO_HANDLER} requests failed the {slo.name} SLO ({slo.description}) "
                    f"over the long window ({spans}); the {objective} objective over "
                    f"{c.SLO_PERIOD} is at risk.",
                    slo=slo.name,
                )
            )
    return alerts


def service_alerts() -> list[Rule]:
    predict_rate = f"sum by (job) (rate(http_requests_total{_sel(PREDICT_HANDLERS)}[15m]))"
    running = f"count by (job) (up{_sel()} == 1)"
    return [
        alert(
            "GlassboxTargetDown",
            f"up{_sel()} == 0",
            c.TARGET_DOWN_FOR,
            "critical",
            "Prometheus cannot scrape a Glassbox target.",
            "{{ $labels.instance }} of job {{ $labels.job }} has not answered /metrics for "
            f"{c.TARGET_DOWN_FOR}: the process is down, hung or unreachable.",
        ),
        alert(
            "GlassboxModelNotLoaded",
            f"model_loaded{_sel()} == 0",
            c.MODEL_NOT_LOADED_FOR,
            "critical",
            "A Glassbox instance runs without a model and is not ready.",
            "{{ $labels.instance }} of job {{ $labels.job }} reports model_loaded=0 for "
            f"{c.MODEL_NOT_LOADED_FOR}: /readyz answers 503 and the pod receives no traffic. "
            "Its model_load_failed log line says why.",
        ),
        alert(
            "GlassboxHighServerErrorRatio",
            f"job:http_request_errors:ratio_rate5m{_sel()} > {c.HIGH_5XX_RATIO}",
            c.HIGH_5XX_FOR,
            "critical",
            "Glassbox answers too many requests with 5xx.",
            "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} failed with a "
            f"5xx over 5 minutes (threshold {c.HIGH_5XX_RATIO:.0%}).",
        ),
        alert(
            "GlassboxHighLatencyP99",
            f"job_handler:http_request_duration_seconds:p99_5m{_sel(PREDICT_HANDLERS)} "
            f"> {c.HIGH_P99_SECONDS}",
            c.HIGH_P99_FOR,
            "warning",
            "Glassbox prediction latency is high.",
            "p99 latency of {{ $labels.handler }} on {{ $labels.job }} is "
            "{{ $value | humanizeDuration }} "
            f"(threshold {c.HIGH_P99_SECONDS}s).",
        ),
        *burn_alerts(),
        alert(
            "GlassboxNoTraffic",
            f"(\n  {predict_rate}\n  or\n  {running} * 0\n) == 0\nand on (job)\n{running} > 0",
            c.NO_TRAFFIC_FOR,
            "info",
            "Glassbox is up but receives no prediction requests.",
            "{{ $labels.job }} has running targets but served no /predict or /predict/batch "
            "request in 15 minutes: check the Service, Ingress and the clients.",
        ),
        alert(
            "GlassboxPredictionClassDrift",
            "abs(\n  job_model_class:model_predictions:share_rate1h\n  - on (job, model_version, class)\n"
            "  job_model_class:model_class_prior:max\n"
            f") > {c.CLASS_DRIFT_MAX_DIFFERENCE}\n"
            "and on (job, model_version)\n"
            f"sum by (job, model_version) (rate(model_predictions_total{_sel()}[1h])) "
            f"> {c.CLASS_DRIFT_MIN_PREDICTIONS_PER_SECOND}",
            c.CLASS_DRIFT_FOR,
            "warning",
            "Glassbox's predicted-class mix has drifted from the training data.",
            "Over the last hour the share of {{ $labels.class }} predictions by model "
            "{{ $labels.model_version }} differs from its training prior by "
            "{{ $value | humanizePercentage }} "
            f"(threshold {c.CLASS_DRIFT_MAX_DIFFERENCE:.0%}): the input distribution may have "
            "shifted.",
        ),
    ]


def kubernetes_alerts() -> list[Rule]:
    container = f'container="{c.CONTAINER}"'
    return [
        alert(
            "GlassboxPodCrashLooping",
            "max_over_time(kube_pod_container_status_waiting_reason"
            f'{{{container}, reason="CrashLoopBackOff"}}[5m]) >= 1',
            c.CRASHLOOP_FOR,
            "warning",
            "A Glassbox pod is crash looping.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) has been in "
            f"CrashLoopBackOff for {c.CRASHLOOP_FOR}.",
        ),
        alert(
            "GlassboxPodRestarting",
            f"increase(kube_pod_container_status_restarts_total{{{container}}}[1h]) "
            f"> {c.RESTARTS_PER_HOUR}",
            "0m",
            "warning",
            "A Glassbox container restarts repeatedly.",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} "
            "restarted {{ $value | humanize }} times in the last hour.",
        ),
        alert(
            "GlassboxHpaMaxedOut",
            "kube_horizontalpodautoscaler_status_current_replicas"
            f'{{horizontalpodautoscaler=~"{c.WORKLOAD_NAME_REGEX}"}}\n'
            "== on (namespace, horizontalpodautoscaler)\n"
            "kube_horizontalpodautoscaler_spec_max_replicas"
            f'{{horizontalpodautoscaler=~"{c.WORKLOAD_NAME_REGEX}"}}',
            c.HPA_MAXED_FOR,
            "warning",
            "Glassbox's HPA is pinned at its maximum replicas.",
            "HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run at its "
            f"maximum of {{{{ $value }}}} replicas for {c.HPA_MAXED_FOR}: load may exceed capacity.",
        ),
    ]


FEATURE_RATE = f"job_model_feature:model_feature_values:rate{c.DRIFT_WINDOW}"
FEATURE_PSI = f"job_model_feature:model_feature_values:psi_{c.DRIFT_WINDOW}"
BUCKET_SHARE = f"job_model_feature_bucket:model_feature_values:share_{c.DRIFT_WINDOW}"
BUCKET_EXPECTED = "job_model_feature_bucket:model_feature_expected_share:max"


def drift_rules() -> list[Rule]:
    """Population stability index per feature: sum over buckets of
    (live - training) * ln(live / training), both shares floored so no term is infinite."""
    values = f"model_feature_values_total{_sel()}"
    by = "job, model_version, feature"
    floor = c.DRIFT_SHARE_FLOOR
    live, expected = f"clamp_min({BUCKET_SHARE}, {floor})", f"clamp_min({BUCKET_EXPECTED}, {floor})"
    return [
        {
            "record": FEATURE_RATE,
            "expr": f"sum by ({by}) (rate({values}[{c.DRIFT_WINDOW}]))",
        },
        {
            "record": BUCKET_SHARE,
            "expr": f"sum by ({by}, bucket) (rate({values}[{c.DRIFT_WINDOW}]))\n"
            f"/ on ({by}) group_left\n{FEATURE_RATE}",
        },
        {
            "record": BUCKET_EXPECTED,
            "expr": f"max by ({by}, bucket) (model_feature_expected_share{_sel()})",
        },
        {
            "record": FEATURE_PSI,
            "expr": f"sum by ({by}) (\n  ({live} - {expected})\n  * ln({live} / {expected})\n)",
        },
    ]


def drift_alerts() -> list[Rule]:
    by = "job, model_version, feature"
    return [
        alert(
            "GlassboxFeatureDrift",
            f"{FEATURE_PSI} > {c.DRIFT_PSI_THRESHOLD}\n"
            f"and on ({by})\n"
            f"{FEATURE_RATE} * {_seconds(c.DRIFT_WINDOW)} >= {c.DRIFT_MIN_ROWS}",
            c.DRIFT_FOR,
            "warning",
            "An input feature no longer looks like the training data.",
            "Over the last hour {{ $labels.feature }} sent to model {{ $labels.model_version }} "
            'has a population stability index of {{ $value | printf "%.2f" }} against the '
            f"training deciles (threshold {c.DRIFT_PSI_THRESHOLD}): its values have shifted.",
        ),
    ]


QUALITY_BY = "job, model_name, model_version, role"
W = c.QUALITY_WINDOW
LABELS = f"job_model_role:model_feedback_labels:increase{W}"
ACCURACY = f"job_model_role:model_feedback_accuracy:ratio_rate{W}"
PRECISION = f"job_model_role_class:model_feedback_precision:ratio_rate{W}"
RECALL = f"job_model_role_class:model_feedback_recall:ratio_rate{W}"
MAE = f"job_model_role:model_feedback_mae:rate{W}"
RMSE = f"job_model_role:model_feedback_rmse:rate{W}"
COVERAGE = f"job_model:model_feedback_coverage:ratio_rate{W}"
AGREEMENT = f"job_model:model_shadow_agreement:ratio_rate{W}"
BEST_ACCURACY = "job_model_name:model_training_accuracy:max"
BEST_MAE = "job_model_name:model_training_mae:min"
CORRECT, RECORDED, AGREED = 'correct="true"', 'status="recorded"', 'agreement="true"'


def _per_class(kind: str) -> str:
    """Precision (by predicted class) or recall (by actual class), with the label `class`."""
    column = "predicted_class" if kind == "precision" else "actual_class"
    confusion = f"model_feedback_confusion_total{_sel()}"
    by = f"{QUALITY_BY}, {column}"
    ratio = _ratio(
        f"rate(model_feedback_confusion_total{_sel(CORRECT)}[{W}])",
        f"rate({confusion}[{W}])",
        by,
    )
    return (
        f"sum by ({QUALITY_BY}, class) (\n"
        f'  label_replace(\n{ratio}\n, "class", "$1", "{column}", "(.*)")\n)'
    )


def quality_rules() -> list[Rule]:
    """Live quality per version and role (primary: the served model; shadow: the candidate)
    from ground truth, the training metrics it is held against, the shadow's agreement."""
    confusion = f"model_feedback_confusion_total{_sel()}"
    errors = f"model_feedback_absolute_error_count{_sel()}"

    def training(metric: str) -> str:
        return "model_training_metric" + _sel('role="primary"', f'metric="{metric}"')

    return [
        {
            "record": LABELS,
            "expr": f"sum by ({QUALITY_BY}) (increase({confusion}[{W}]))\nor\n"
            f"sum by ({QUALITY_BY}) (increase({errors}[{W}]))",
        },
        {
            "record": ACCURACY,
            "expr": _ratio(
                f"rate(model_feedback_confusion_total{_sel(CORRECT)}[{W}])",
                f"rate({confusion}[{W}])",
                QUALITY_BY,
            ),
        },
        {"record": PRECISION, "expr": _per_class("precision")},
        {"record": RECALL, "expr": _per_class("recall")},
        {
            "record": MAE,
            "expr": f"sum by ({QUALITY_BY}) (rate(model_feedback_absolute_error_sum{_sel()}[{W}]))"
            f"\n/\nsum by ({QUALITY_BY}) (rate({errors}[{W}]))",
        },
        {
            "record": RMSE,
            "expr": f"sqrt(\n  sum by ({QUALITY_BY}) (rate(model_feedback_squared_error_total"
            f"{_sel()}[{W}]))\n  /\n  sum by ({QUALITY_BY}) (rate({errors}[{W}]))\n)",
        },
        {
            "record": COVERAGE,
            "expr": _ratio(
                f"rate(model_feedback_total{_sel(RECORDED)}[{W}])",
                f"rate(model_predictions_total{_sel()}[{W}])",
                "job, model_name, model_version",
            ),
        },
        {
            "record": AGREEMENT,
            "expr": _ratio(
                f"rate(model_shadow_rows_total{_sel(AGREED)}[{W}])",
                f"rate(model_shadow_rows_total{_sel()}[{W}])",
                "job, model_name, model_version, primary_version",
            ),
        },
        {
            "record": BEST_ACCURACY,
            "expr": f"max by (job, model_name) ({training('accuracy')})",
        },
        {
            "record": BEST_MAE,
            "expr": f"min by (job, model_name) ({training('mae')})",
        },
    ]


def quality_alerts() -> list[Rule]:
    serving = f"max by (job, model_name, model_version) (model_info{_sel()} == 1)"
    enough = (
        f"and on (job, model_name, model_version)\n"
        f'{LABELS}{{role="primary"}} >= {c.QUALITY_MIN_LABELS}\n'
        f"and on (job, model_name, model_version)\n{serving}"
    )
    window, baseline = c.QUALITY_WINDOW, c.QUALITY_BASELINE_WINDOW
    summary = "The served model's live quality has dropped below what training promised."
    return [
        alert(
            "GlassboxModelQualityDrop",
            f'{ACCURACY}{{role="primary"}}\n< on (job, model_name) group_left ()\n('
            f"max_over_time({BEST_ACCURACY}[{baseline}]) - {c.QUALITY_ACCURACY_MARGIN})\n" + enough,
            c.QUALITY_DROP_FOR,
            "critical",
            summary,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }} was right on "
            "{{ $value | humanizePercentage }} of the predictions labelled through /feedback "
            f"over the last {window}: more than {c.QUALITY_ACCURACY_MARGIN:.0%} below the best "
            f"held-out accuracy of its versions served in the last {baseline}. Its inputs may "
            "look normal: the answers are what changed.",
            task="classification",
        ),
        alert(
            "GlassboxModelQualityDrop",
            f'{MAE}{{role="primary"}}\n> on (job, model_name) group_left ()\n('
            f"min_over_time({BEST_MAE}[{baseline}]) * {1 + c.QUALITY_MAE_MARGIN_RATIO:g})\n"
            + enough,
            c.QUALITY_DROP_FOR,
            "critical",
            summary,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }} is off by "
            '{{ $value | printf "%.4g" }} on average (live MAE from /feedback over the last '
            f"{window}): more than {c.QUALITY_MAE_MARGIN_RATIO:.0%} above the best held-out MAE "
            f"of its versions served in the last {baseline}.",
            task="regression",
        ),
    ]


def recording_groups() -> dict[str, Any]:
    return {
        "groups": [
            {"name": "glassbox.http.rules", "rules": http_rules()},
            {"name": "glassbox.model.rules", "rules": model_rules()},
            {"name": "glassbox.drift.rules", "rules": drift_rules()},
            {"name": "glassbox.quality.rules", "rules": quality_rules()},
            {"name": "glassbox.slo.rules", "rules": slo_rules()},
        ]
    }


def alert_groups() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "glassbox.alerts",
                "rules": service_alerts() + drift_alerts() + quality_alerts(),
            },
            {"name": "glassbox.kubernetes.alerts", "rules": kubernetes_alerts()},
        ]
    }
