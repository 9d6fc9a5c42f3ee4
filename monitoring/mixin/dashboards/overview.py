"""Glassbox / Service overview: RED metrics, latency with exemplars, SLOs, alerts."""

from typing import Any

from monitoring.mixin import config
from monitoring.mixin.dashboards.panels import (
    HANDLER_VAR,
    LOGS_LINK,
    PROMETHEUS_VARS,
    RATE,
    SERVICE,
    dashboard,
    error_ratio,
    heatmap,
    instant_table,
    quantile,
    stat,
    target,
    timeseries,
)
from monitoring.mixin.rules import budget_remaining_expr, burn_rate_expr, slo_attainment_expr


def build() -> dict[str, Any]:
    predict = f'{SERVICE}, handler="{config.SLO_HANDLER}"'
    panels = [
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
            "exemplars: one request id per bucket; click one for its log lines in Loki.",
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
        ),
        stat(
            "Availability error budget remaining",
            f"1 means untouched, 0 means the {config.SLO_PERIOD} budget is spent.",
            target(budget_remaining_expr(config.AVAILABILITY)),
            unit="percentunit",
        ),
        stat(
            f"Latency SLO ({config.LATENCY.objective:.0%} < {float(config.LATENCY_THRESHOLD_SECONDS) * 1000:.0f} ms)",
            f"Share of {config.SLO_HANDLER} requests faster than the threshold over {config.SLO_PERIOD}.",
            target(slo_attainment_expr(config.LATENCY)),
            unit="percentunit",
            decimals=3,
        ),
        stat(
            "Latency error budget remaining",
            f"1 means untouched, 0 means the {config.SLO_PERIOD} budget is spent.",
            target(budget_remaining_expr(config.LATENCY)),
            unit="percentunit",
        ),
        timeseries(
            "Error budget burn rate (1h)",
            "1 burns the budget exactly over the SLO period; 14.4 pages.",
            target(burn_rate_expr(config.AVAILABILITY, "1h"), "availability"),
            target(burn_rate_expr(config.LATENCY, "1h"), "latency"),
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
