"""HTTP recording rules: request rates, error ratios and latency quantiles per handler."""

from monitoring.mixin.rules.common import SERVER_ERROR, Rule, ratio, sel


def http_rules() -> list[Rule]:
    rules: list[Rule] = [
        {
            "record": "job:http_requests:rate5m",
            "expr": f"sum by (job) (rate(http_requests_total{sel()}[5m]))",
        },
        {
            "record": "job_handler_status:http_requests:rate5m",
            "expr": f"sum by (job, handler, status) (rate(http_requests_total{sel()}[5m]))",
        },
        {
            "record": "job:http_request_errors:ratio_rate5m",
            "expr": ratio(
                f"rate(http_requests_total{sel(SERVER_ERROR)}[5m])",
                f"rate(http_requests_total{sel()}[5m])",
                "job",
            ),
        },
        {
            "record": "job_handler:http_request_errors:ratio_rate5m",
            "expr": ratio(
                f"rate(http_requests_total{sel(SERVER_ERROR)}[5m])",
                f"rate(http_requests_total{sel()}[5m])",
                "job, handler",
            ),
        },
    ]
    for quantile in ("50", "90", "99"):
        rules.append(
            {
                "record": f"job_handler:http_request_duration_seconds:p{quantile}_5m",
                "expr": f"histogram_quantile(0.{quantile}, sum by (job, handler, le) "
                f"(rate(http_request_duration_seconds_bucket{sel()}[5m])))",
            }
        )
    return rules
