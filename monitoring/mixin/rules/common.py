"""What every rule file shares: the Rule type, the job selector, the error-ratio shape and the
alert constructor (each alert links its runbook section).

Error ratios are written `(errors or total * 0) / total` so they are 0, not absent, while
nothing fails: recording rules always produce series and an alert can tell "no errors"
from "no data".
"""

from typing import Any

from monitoring.mixin import config as c

Rule = dict[str, Any]

SERVER_ERROR = 'status=~"5.."'
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def sel(*matchers: str) -> str:
    return "{" + ", ".join((c.SELECTOR, *matchers)) + "}"


def ratio(errors: str, total: str, by: str) -> str:
    return f"(\n  sum by ({by}) ({errors})\n  or\n  sum by ({by}) ({total}) * 0\n)\n/\nsum by ({by}) ({total})"


def seconds(window: str) -> int:
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
