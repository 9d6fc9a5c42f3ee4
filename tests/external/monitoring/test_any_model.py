"""The shipped rules, alerts and dashboards with models that are not Iris, end to end: the
real service, Prometheus (shipped rules through the test overlay) and Alertmanager.

- churn (categories, integers, a boolean): replaying its training rows stays silent;
  replaying them with every `plan` set to one category fires GlassboxFeatureDrift for
  `plan` alone -- categorical drift through the same PSI rule as numbers.
- diabetes (regression): every query of the regression dashboard returns data.
"""

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app.ml.building.dataset import load_dataset
from app.ml.contract import Contract
from scripts.example_data import bundled, churn
from tests.external.monitoring.queries import shows_a_blind_estimate, substitute
from tests.external.monitoring.servers import Server, monitored_service, query, wait_for
from tests.external.monitoring.test_integration import (
    REGRESSION_DASHBOARD,
    REGRESSION_ONLY_RECORDS,
    firing,
    prometheus_panels,
)
from tests.support.service import Service, train

PSI = "job_model_feature:model_feature_values:psi_1h"


def rows_of(path: Path, target: str) -> tuple[Contract, list[dict[str, Any]]]:
    contract = load_dataset(path, target).contract
    with path.open() as handle:
        raw = list(csv.DictReader(handle))
    encoded = [
        contract.example_of([_value(row[item.name], item.kind) for item in contract.inputs])
        for row in raw
    ]
    return contract, encoded


def _value(text: str, kind: str) -> Any:
    if kind == "category":
        return text
    if kind == "boolean":
        return text.lower() == "true"
    return float(text)


def replay(
    service: Service, rows: list[dict[str, Any]], truths: list[Any] | None = None
) -> list[Any]:
    """Predict the rows in batches of 100; with `truths`, send each row's true value back
    through /feedback. The answers: each row's class name, or value."""
    answers: list[Any] = []
    for start in range(0, len(rows), 100):
        response = requests.post(
            f"{service.url}/predict/batch",
            json={"instances": rows[start : start + 100]},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        answers += [p.get("prediction_label", p["prediction"]) for p in predictions]
        if truths is None:
            continue
        request_id = response.json()["request_id"]
        items = [
            {"request_id": request_id, "row": row, "label": truth}
            for row, truth in enumerate(truths[start : start + 100])
        ]
        labelled = requests.post(
            f"{service.url}/feedback/batch", json={"feedback": items}, timeout=10
        )
        assert labelled.status_code == 200, labelled.text
    return answers


def targets_of(path: Path, target: str) -> list[float]:
    with path.open() as handle:
        return [float(row[target]) for row in csv.DictReader(handle)]


def psi(prom: Server) -> dict[str, float]:
    return {s["metric"]["feature"]: float(s["value"][1]) for s in query(prom, PSI)}


def served(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, Path, str]:
    directory = tmp_path_factory.mktemp(name)
    written = churn(directory) if name == "churn" else bundled(name, directory)
    result = train(directory / "artifacts", "--data", str(written.path), "--target", written.target)
    assert result.returncode == 0, result.stdout + result.stderr
    return directory, written.path, written.target


@pytest.fixture(scope="module")
def churn_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Service, Server, Server, Path]]:
    directory, path, _target = served(tmp_path_factory, "churn")
    with monitored_service(directory / "artifacts" / "latest", directory / "stack") as running:
        yield (*running, path)


def test_replaying_a_non_iris_models_training_rows_does_not_fire(
    churn_stack: tuple[Service, Server, Server, Path],
) -> None:
    service, prom, am, path = churn_stack
    contract, rows = rows_of(path, "churned")
    replay(service, rows)
    values = wait_for(
        lambda: len(psi(prom)) == len(contract.inputs) and psi(prom), 30, "PSI series"
    )
    assert max(values.values()) < 0.2, values
    time.sleep(3)  # three more rule evaluations, each of which could have fired
    assert firing(am, "GlassboxFeatureDrift") == []


def test_a_shifted_category_fires_the_drift_alert_for_that_input_only(
    churn_stack: tuple[Service, Server, Server, Path],
) -> None:
    service, prom, am, path = churn_stack
    _, rows = rows_of(path, "churned")
    shifted = [{**row, "plan": "team"} for row in rows]
    for _ in range(4):  # outweighs the unshifted replay in the 1 h window
        replay(service, shifted)
    alerts = wait_for(lambda: firing(am, "GlassboxFeatureDrift"), 30, "GlassboxFeatureDrift")
    assert {a["labels"]["feature"] for a in alerts} == {"plan"}
    values = psi(prom)
    assert values["plan"] > 0.2
    assert max(v for f, v in values.items() if f != "plan") < 0.2, values


@pytest.fixture(scope="module")
def regression_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Service, Server, list[dict[str, Any]]]]:
    directory, path, target = served(tmp_path_factory, "diabetes")
    # A second regressor (stronger regularisation) as the shadow candidate.
    shadow = train(
        directory / "candidate", "--data", str(path), "--target", target, "--alpha", "100"
    )
    assert shadow.returncode == 0, shadow.stdout + shadow.stderr
    candidate = str(directory / "candidate" / "latest")
    with monitored_service(
        directory / "artifacts" / "latest", directory / "stack", SHADOW_MODEL_DIR=candidate
    ) as (service, prom, _):
        _, rows = rows_of(path, target)
        truths = targets_of(path, target)
        for _ in range(3):  # waves, so rate() sees change
            replay(service, rows[:200], truths[:200])
            assert service.post("/predict", rows[0]).status_code == 200
            assert service.post("/predict", {"bmi": "high"}).status_code == 422
            time.sleep(1.5)
        wait_for(lambda: psi(prom), 30, "the drift rules to see the traffic")
        yield service, prom, rows


def test_the_promotion_gate_reports_a_regressors_estimated_mae(
    regression_stack: tuple[Service, Server, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make promote`'s gate, asking this Prometheus: each model's estimated MAE (its loss
    model's, before any label) beside the agreement, as the counters say."""
    from promotion.gate import ShadowGate

    _, prom, _ = regression_stack
    (shadow,) = query(prom, 'model_estimated_rows_total{job="glassbox", role="shadow"}')
    version = shadow["metric"]["model_version"]
    monkeypatch.setenv("PROMETHEUS_URL", prom.url)
    gate = ShadowGate.from_env()
    assert gate is not None
    evidence = gate.judge(version, "regression").evidence
    for role, matcher in (("shadow", 'role="shadow"'), ("served", 'role="primary"')):
        selector = f'{{job="glassbox", {matcher}}}'
        ratio = query(
            prom,
            f"sum(model_estimated_absolute_error_total{selector})"
            f" / sum(model_estimated_rows_total{selector})",
        )
        # The gate reads increases over its window: the same ratio, extrapolated.
        assert evidence[f"{role}_estimated_mae"] == pytest.approx(
            float(ratio[0]["value"][1]), rel=1e-3
        )
        assert evidence[f"{role}_estimated_mae"] > 0


def test_every_regression_dashboard_query_returns_data(
    regression_stack: tuple[Service, Server, list[dict[str, Any]]],
) -> None:
    service, prom, rows = regression_stack
    empty, checked, blind, trusted = [], 0, [], []
    for name, title, exprs in prometheus_panels((REGRESSION_DASHBOARD,)):
        for expr in exprs:
            checked += 1
            if shows_a_blind_estimate(expr):
                blind.append(substitute(expr))
                continue
            if "out_of_support" in expr and "unless on (job, model_name)" in expr:
                trusted.append(substitute(expr))
            if not query(prom, substitute(expr).replace("petal_length", "bmi")):
                empty.append(f"{name} / {title}: {expr}")
    assert checked >= 10
    assert empty == []
    assert [record for record in REGRESSION_ONLY_RECORDS if not query(prom, record)] == []
    (info,) = query(prom, 'model_info{job="glassbox"} == 1')
    assert info["metric"]["task"] == "regression"
    # Inside the training support the estimate is shown as such; once inputs leave it (a
    # client sending every input in other units) it is shown only as BLIND.
    assert blind
    assert trusted
    assert [expr for expr in blind if query(prom, expr)] == []
    replay(service, [{key: value * 100 for key, value in row.items()} for row in rows[:200]])
    wait_for(lambda: all(query(prom, expr) for expr in blind), 30, "the estimate marked blind")
    assert [expr for expr in trusted if query(prom, expr)] == []
