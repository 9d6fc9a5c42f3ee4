"""The service's alerts: a target down, no model, 5xx, p99, no traffic, the class mix."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert, sel
from monitoring.mixin.rules.slo import burn_alerts

PREDICT_HANDLERS = 'handler=~"/predict|/predict/batch"'


def service_alerts() -> list[Rule]:
    predict_rate = f"sum by (job) (rate(http_requests_total{sel(PREDICT_HANDLERS)}[15m]))"
    running = f"count by (job) (up{sel()} == 1)"
    return [
        alert(
            "GlassboxTargetDown",
            f"up{sel()} == 0",
            c.TARGET_DOWN_FOR,
            "critical",
            "Prometheus cannot scrape a Glassbox target.",
            "{{ $labels.instance }} of job {{ $labels.job }} has not answered /metrics for "
            f"{c.TARGET_DOWN_FOR}: the process is down, hung or unreachable.",
        ),
        alert(
            "GlassboxModelNotLoaded",
            f"model_loaded{sel()} == 0",
            c.MODEL_NOT_LOADED_FOR,
            "critical",
            "A Glassbox instance runs without a model and is not ready.",
            "{{ $labels.instance }} of job {{ $labels.job }} reports model_loaded=0 for "
            f"{c.MODEL_NOT_LOADED_FOR}: /readyz answers 503 and the pod receives no traffic. "
            "Its model_load_failed log line says why.",
        ),
        alert(
            "GlassboxHighServerErrorRatio",
            f"job:http_request_errors:ratio_rate5m{sel()} > {c.HIGH_5XX_RATIO}",
            c.HIGH_5XX_FOR,
            "critical",
            "Glassbox answers too many requests with 5xx.",
            "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} failed with a "
            f"5xx over 5 minutes (threshold {c.HIGH_5XX_RATIO:.0%}).",
        ),
        alert(
            "GlassboxHighLatencyP99",
            f"job_handler:http_request_duration_seconds:p99_5m{sel(PREDICT_HANDLERS)} "
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
            f"sum by (job, model_version) (rate(model_predictions_total{sel()}[1h])) "
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
