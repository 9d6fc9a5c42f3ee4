"""The Grafana dashboards (a model dashboard per task), as Python: builders in panels.py, one module per dashboard.

`make monitoring` writes each to dashboards/<name> (and the chart's copy). Plain Python, not
grafana-foundation-sdk: see docs/monitoring.md for why.
"""

from collections.abc import Callable
from typing import Any

from monitoring.mixin.dashboards import capacity, logs, model, overview

DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "glassbox-overview.json": overview.build,
    "glassbox-model.json": model.build,
    "glassbox-model-regression.json": model.build_regression,
    "glassbox-logs.json": logs.build,
    "glassbox-capacity.json": capacity.build,
}
