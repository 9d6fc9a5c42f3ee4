"""Glassbox / Service overview: RED metrics, latency with exemplars, SLOs, alerts."""

from typing import Any

from monitoring.mixin import config
from monitoring.mixin.dashboards.panels import (
    HANDLER_VAR,
    LOGS_LINK,
    MODEL_SWAPS,
    PROMETHEUS_VARS,
    RATE,
    SERVICE,
    UP_DOWN,
    Panel,
    dashboard,
    error_ratio,
    green_amber_red,
    heatmap,
    instant_table,
    quantile,
    red_amber_green,
    stat,
    target,
    timeseries,
    value_text,
)
from monitoring.mixin.rules.slo import (
    budget_remaining_expr,
    burn_rate_expr,
    error_budget,
    slo_attainment_expr,
)


def pod_status(title: str, description: str, expr: str, words: tuple[str, str]) -> Panel:
    """One green or red box per pod for a 1/0 series, saying `words` (for 1, for 0)."""
    return stat(
        title,
        description,
        target(expr, "{{pod}}"),
        unit="none",
        width=4,
        thresholds=UP_DOWN,
        mappings=value_text((1, words[0], "green"), (0, words[1], "red")),
        options={"colorMode": "background", "textMode": "value_and_name"},
    )


def at_a_glance(predict: str) -> list[dict[str, Any]]:
    """Is it up, is it serving, which model, and are errors and p99 within the SLO."""
    budget_rate = error_budget(config.AVAILABILITY)  # an error ratio that spends it exactly
    page_rate = budget_rate * config.FAST_BURN[0].factor
    threshold = float(config.LATENCY_THRESHOLD_SECONDS)
    return [
        pod_status(
            "Up",
            "Whether Prometheus scrapes each pod (GlassboxTargetDown after "
            f"{config.TARGET_DOWN_FOR} down).",
            f"up{{{SERVICE}}}",
            ("UP", "DOWN"),
        ),
        pod_status(
            "Ready (model loaded)",
            "model_loaded per pod: 1 once the model passed every load check and /readyz "
            f"answers 200 (GlassboxModelNotLoaded after {config.MODEL_NOT_LOADED_FOR} at 0).",
            f"min by (pod) (model_loaded{{{SERVICE}}})",
            ("READY", "NOT READY"),
        ),
        stat(
            "Model version served",
            "Pods serving each model version now; two versions mean a rollout or a reload "
            "in progress. Purple marks on the graphs: model swaps.",
            target(f"count by (model_version) (model_info{{{SERVICE}}} == 1)", "{{model_version}}"),
            unit="none",
            width=6,
            options={"colorMode": "none", "textMode": "value_and_name"},
        ),
        stat(
            f"5xx ratio now ({config.SLO_HANDLER})",
            f"Green below {budget_rate:.1%} (the {config.AVAILABILITY.objective:.1%} SLO's "
            f"budget, spent exactly); amber above it; red from {page_rate:.2%}, the "
            f"{config.FAST_BURN[0].factor:g}x burn that pages. Click through to the error logs.",
            target(error_ratio("job", predict)),
            unit="percentunit",
            decimals=2,
            width=5,
            thresholds=green_amber_red(budget_rate, page_rate),
            options={"colorMode": "background"},
            links=LOGS_LINK,
        ),
        stat(
            f"p99 latency now ({config.SLO_HANDLER})",
            f"Green below {threshold * 1000:.0f} ms (the latency SLO's threshold); amber up "
            f"to {config.HIGH_P99_SECONDS * 1000:.0f} ms, red from there "
            "(GlassboxHighLatency).",
            target(quantile("0.99", "http_request_duration_seconds", "job", predict)),
            unit="s",
            width=5,
            thresholds=green_amber_red(threshold, config.HIGH_P99_SECONDS),
            options={"colorMode": "background"},
        ),
    ]


def slo_levels(slo: config.Slo) -> list[tuple[str, float | None]]:
    """Attainment: red below the objective, amber while less than BUDGET_LOW_REMAINING of
    the budget is left, green above."""
    return red_amber_green(slo.objective, 1 - error_budget(slo) * config.BUDGET_LOW_REMAINING)


BUDGET_LEVELS = red_amber_green(0.0, config.BUDGET_LOW_REMAINING)


def build() -> dict[str, Any]:
    predict = f'{SERVICE}, handler="{config.SLO_HANDLER}"'
    panels = [
        *at_a_glance(predict),
        timeseries(
            "Request rate by handler",
            "Requests per second, every handler, errors included.",
            target(
                f"sum by (handler) (rate(http_requests_total{{{SERVICE}}}[{RATE}]))", "{{handler}}"
            ),
            unit="reqps",
        ),
        timeseries(
            "Requests by status",
            "Requests per second by exact status code.",
            target(
                f"sum by (status) (rate(http_requests_total{{{SERVICE}}}[{RATE}]))", "{{status}}"
            ),
            unit="reqps",
        ),
        timeseries(
            "Server error ratio (5xx) by handler",
            "Share of requests answered 5xx. Click through to the error logs.",
            target(error_ratio("handler", SERVICE), "{{handler}}"),
            unit="percentunit",
            links=LOGS_LINK,
        ),
        timeseries(
            "Client errors (4xx) by status",
            "Rejected requests per second: 400 malformed JSON, 413 too large, 415 not JSON, "
            "422 invalid fields, 404/405 wrong route or method.",
            target(
                f'sum by (handler, status) (rate(http_requests_total{{{SERVICE}, status=~"4.."}}[{RATE}]))',
                "{{handler}} {{status}}",
            ),
            unit="reqps",
            links=LOGS_LINK,
        ),
        timeseries(
            f"Latency p50 / p90 / p99 ({config.SLO_HANDLER})",
            "Request latency quantiles from http_request_duration_seconds. The dots are "
            "exemplars, one request per bucket: click one for its log lines in Loki (its "
            "request_id) or, for a traced request, its trace in Tempo (its trace_id).",
            target(quantile("0.5", "http_request_duration_seconds", "handler", predict), "p50"),
            target(quantile("0.9", "http_request_duration_seconds", "handler", predict), "p90"),
            target(
                quantile("0.99", "http_request_duration_seconds", "handler", predict),
                "p99",
                exemplar=True,
            ),
            unit="s",
        ),
        heatmap(
            "Latency heatmap ($handler)",
            "Distribution of request latency for the handlers picked in the Handler variable.",
            f'increase(http_request_duration_seconds_bucket{{{SERVICE}, handler=~"$handler"}}[{RATE}])',
            unit="s",
            yAxis={"unit": "s"},
            color={"scheme": "Oranges"},
        ),
        stat(
            f"Availability SLO ({config.AVAILABILITY.objective:.1%}, {config.SLO_PERIOD})",
            f"Share of {config.SLO_HANDLER} requests not answered 5xx over {config.SLO_PERIOD}.",
            target(slo_attainment_expr(config.AVAILABILITY)),
            unit="percentunit",
            decimals=3,
            thresholds=slo_levels(config.AVAILABILITY),
        ),
        stat(
            "Availability error budget remaining",
            f"1 means untouched, 0 means the {config.SLO_PERIOD} budget is spent: amber below "
            f"{config.BUDGET_LOW_REMAINING:.0%}, red once spent.",
            target(budget_remaining_expr(config.AVAILABILITY)),
            unit="percentunit",
            thresholds=BUDGET_LEVELS,
        ),
        stat(
            f"Latency SLO ({config.LATENCY.objective:.0%} < {float(config.LATENCY_THRESHOLD_SECONDS) * 1000:.0f} ms)",
            f"Share of {config.SLO_HANDLER} requests faster than the threshold over {config.SLO_PERIOD}.",
            target(slo_attainment_expr(config.LATENCY)),
            unit="percentunit",
            decimals=3,
            thresholds=slo_levels(config.LATENCY),
        ),
        stat(
            "Latency error budget remaining",
            f"1 means untouched, 0 means the {config.SLO_PERIOD} budget is spent: amber below "
            f"{config.BUDGET_LOW_REMAINING:.0%}, red once spent.",
            target(budget_remaining_expr(config.LATENCY)),
            unit="percentunit",
            thresholds=BUDGET_LEVELS,
        ),
        timeseries(
            "Error budget burn rate (1h)",
            f"1 burns the budget exactly over the SLO period (amber above); "
            f"{config.FAST_BURN[0].factor:g} pages (red).",
            target(burn_rate_expr(config.AVAILABILITY, "1h"), "availability"),
            target(burn_rate_expr(config.LATENCY, "1h"), "latency"),
            unit="none",
            thresholds=green_amber_red(1.0, config.FAST_BURN[0].factor),
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
        annotations=[MODEL_SWAPS],
    )
