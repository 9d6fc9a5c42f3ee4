"""SLOs on /predict (availability and latency): error ratios per window, the budget and its
burn, and the multi-window burn-rate alerts (the Google SRE workbook's)."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import SERVER_ERROR, Rule, alert, ratio, seconds, sel

SLO_HANDLER_MATCHER = f'handler="{c.SLO_HANDLER}"'
LATENCY_BUCKET = f'le="{c.LATENCY_THRESHOLD_SECONDS}"'


def slo_error_ratio(slo: c.Slo, window: str) -> str:
    total = f"rate(http_requests_total{sel(SLO_HANDLER_MATCHER)}[{window}])"
    if slo is c.AVAILABILITY:
        errors = f"rate(http_requests_total{sel(SLO_HANDLER_MATCHER, SERVER_ERROR)}[{window}])"
        return ratio(errors, total, "job")
    count = f"rate(http_request_duration_seconds_count{sel(SLO_HANDLER_MATCHER)}[{window}])"
    fast = f"rate(http_request_duration_seconds_bucket{sel(SLO_HANDLER_MATCHER, LATENCY_BUCKET)}[{window}])"
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
            "expr": f"sum by (job) (rate(http_requests_total{sel(SLO_HANDLER_MATCHER)}[{window}]))",
        }
        for window in long_windows
    ]
    return ratios + requests


def _burn_expr(slo: c.Slo, windows: tuple[c.BurnWindow, ...]) -> str:
    budget = error_budget(slo)
    clauses = [
        f"(\n  {slo_record(slo, w.long)} > ({w.factor} * {budget})\n  and\n"
        f"  {slo_record(slo, w.short)} > ({w.factor} * {budget})\n  and\n"
        f"  {slo_requests_record(w.long)} * {seconds(w.long)} >= {c.BURN_MIN_REQUESTS}\n)"
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
