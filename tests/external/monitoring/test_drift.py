"""Feature drift end to end: real service, real Prometheus rules, real Alertmanager.

Replaying data/iris.csv as it is must not fire GlassboxFeatureDrift; replaying it with petal
length shifted must fire it for petal_length and no other feature. The shipped rules run
through the same overlay as test_integration.py (1 s evaluation, `for: 0s`).
"""

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.external.monitoring.servers import Server, monitored_service, query, wait_for
from tests.external.monitoring.test_integration import firing
from tests.support.service import ROOT, Service

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
PSI = "job_model_feature:model_feature_values:psi_1h"
SHIFT_CM = 2.5


def iris_rows(shift_petal_length: float = 0.0) -> list[dict[str, float]]:
    with (ROOT / "data" / "iris.csv").open() as f:
        rows = [{name: float(row[name]) for name in FEATURES} for row in csv.DictReader(f)]
    for row in rows:
        row["petal_length"] = round(row["petal_length"] + shift_petal_length, 1)
    return rows


def replay(service: Service, rows: list[dict[str, float]]) -> None:
    for start in range(0, len(rows), 50):
        response = requests.post(
            f"{service.url}/predict/batch", json={"instances": rows[start : start + 50]}, timeout=10
        )
        assert response.status_code == 200, response.text


def psi(prom: Server) -> dict[str, float]:
    return {s["metric"]["feature"]: float(s["value"][1]) for s in query(prom, PSI)}


@pytest.fixture(scope="module")
def drift_stack(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Server, Server]]:
    with monitored_service(model_dir, tmp_path_factory.mktemp("drift")) as running:
        yield running


def test_replaying_the_training_data_does_not_fire(
    drift_stack: tuple[Service, Server, Server],
) -> None:
    service, prom, am = drift_stack
    for _ in range(3):
        replay(service, iris_rows())
    values = wait_for(lambda: len(psi(prom)) == len(FEATURES) and psi(prom), 30, "PSI series")
    assert max(values.values()) < 0.2, values
    time.sleep(3)  # three more rule evaluations, each of which could have fired
    assert query(prom, 'ALERTS{alertname="GlassboxFeatureDrift"}') == []
    assert firing(am, "GlassboxFeatureDrift") == []


def test_shifting_petal_length_fires_for_that_feature_only(
    drift_stack: tuple[Service, Server, Server],
) -> None:
    service, prom, am = drift_stack
    for _ in range(12):  # outweighs the unshifted replay in the 1 h window
        replay(service, iris_rows(shift_petal_length=SHIFT_CM))

    def fired() -> list[dict[str, Any]]:
        return firing(am, "GlassboxFeatureDrift")

    alerts = wait_for(fired, 30, "GlassboxFeatureDrift in Alertmanager")
    assert {a["labels"]["feature"] for a in alerts} == {"petal_length"}
    values = psi(prom)
    assert values["petal_length"] > 0.2
    assert max(v for f, v in values.items() if f != "petal_length") < 0.2, values
    (alert,) = alerts
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook_url"].endswith("#glassboxfeaturedrift")
    out_of_range = query(
        prom, 'sum by (feature, side) (model_feature_out_of_range_total{job="glassbox"}) > 0'
    )
    assert {(s["metric"]["feature"], s["metric"]["side"]) for s in out_of_range} == {
        ("petal_length", "above")
    }
