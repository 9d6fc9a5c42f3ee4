"""The poisoning story, live: is the model still right?

A clean Iris classifier serves; a candidate trained on 30 %-poisoned labels (its gate
lowered so it is written at all) runs beside it as the shadow. The held-out half of Iris is
replayed through the real service with its true labels sent to /feedback. A real Prometheus
evaluates the shipped rules (through the test overlay: 1 s scrapes, `for: 0s`): the
shadow's agreement drops and its live accuracy is visibly below the served model's.
`make promote`'s gate refuses the candidate, saying why; it is forced through anyway and
the service reloads; GlassboxModelQualityDrop fires and reaches the real Alertmanager;
`make rollback` and a reload, and it resolves. The figures in docs/quality.md come from
this test's printed summary (run with `-s`).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from app.ml.building.dataset import load_dataset
from monitoring.mixin.rules.quality import ACCURACY, AGREEMENT
from tests.external.monitoring.servers import Server, monitored_service, query, wait_for
from tests.external.monitoring.test_integration import firing
from tests.service.api.test_feedback import wait_for_shadow
from tests.support.redis import redis_server
from tests.support.service import ROOT, Service, free_port, train

SEED, TEST_SIZE = 42, 0.5  # train.py's seed; half of Iris held out, so 75 rows to replay
TRAINING = ("--test-size", str(TEST_SIZE))


def held_out_rows() -> tuple[list[dict[str, float]], list[str]]:
    """The rows train.py held out (same seed, size and stratification) and their classes."""
    data = load_dataset(ROOT / "data" / "iris.csv", "species")
    _, x_test, _, y_test = train_test_split(
        data.features, data.target, test_size=TEST_SIZE, random_state=SEED, stratify=data.target
    )
    names = data.contract.names
    rows = [dict(zip(names, map(float, row), strict=True)) for row in np.asarray(x_test)]
    return rows, [data.class_names[int(y)] for y in y_test]


def trained(artifacts: Path, *args: str, promote: bool) -> str:
    result = train(artifacts, *TRAINING, *args, promote=promote)
    assert result.returncode == 0, result.stdout + result.stderr
    (done,) = [json.loads(line) for line in result.stdout.splitlines() if '"model_trained"' in line]
    return str(done["model_version"])


def replay(service: Service, rows: list[dict[str, float]], truths: list[str], shared: bool) -> None:
    """Every held-out row predicted in one batch, then its true class sent as feedback."""
    response = service.post("/predict/batch", {"instances": rows})
    assert response.status_code == 200, response.text
    request_id = response.json()["request_id"]
    wait_for_shadow(service)  # labels come later than the shadow's 10 ms drain
    if shared:
        wait_for_store(service)
    items = [{"request_id": request_id, "row": i, "label": t} for i, t in enumerate(truths)]
    labelled = service.post("/feedback/batch", {"feedback": items})
    assert labelled.status_code == 200, labelled.text
    assert {r["status"] for r in labelled.json()["results"]} == {"recorded"}


def wait_for_store(service: Service, timeout: float = 10.0) -> None:
    """Until the shared store holds every row served so far, and the shadow's answers after
    them (written the moment it scores, after the rows: given a moment). Each worker's own
    memory has nothing in flight: it is not asked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scraped = service.metrics()
        written = [
            v
            for (name, _), v in scraped.items()
            if name == "model_prediction_store_rows_written_total"
        ]
        served = sum(v for (name, _), v in scraped.items() if name == "model_predictions_total")
        if sum(written) >= served:
            time.sleep(0.3)
            return
        time.sleep(0.05)
    raise AssertionError("the store did not get every answer")


def waves(
    service: Service, rows: list[dict[str, float]], truths: list[str], n: int, shared: bool
) -> None:
    for _ in range(n):  # apart, so rate() over the scrapes sees the counts grow
        replay(service, rows, truths, shared)
        time.sleep(1.5)


def value(prom: Server, expr: str) -> float | None:
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def promotion(artifacts: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promotion", *args, "--artifacts", str(artifacts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def reload(service: Service, version: str, workers: int = 1) -> None:
    """SIGHUP to the process this test started (its own pid; with several workers it
    forwards it to each), until `version` serves in every worker."""
    done = [line for line in service.log_lines() if line.get("event") == "model_reloaded"]
    service.process.send_signal(signal.SIGHUP)
    reloaded = service.wait_for_log("model_reloaded", timeout=30, count=len(done) + workers)
    assert {line["model_version"] for line in reloaded[len(done) :]} == {version}


@pytest.mark.parametrize("store", ["memory", "shared"])
def test_a_poisoned_candidate_is_caught_in_the_shadow_and_paged_on_when_forced(
    tmp_path: Path, store: str
) -> None:
    """With each worker's memory (one worker), and with the shared store and two workers:
    the same story, the same figures for the gate."""
    if store == "memory":
        story_in(tmp_path, {})
        return
    port = free_port()
    with redis_server(tmp_path / "redis", port):
        url = f"redis://127.0.0.1:{port}/0"
        story_in(tmp_path, {"PREDICTION_STORE_URL": url, "WEB_CONCURRENCY": "2"})


def story_in(tmp_path: Path, env: dict[str, str]) -> None:
    artifacts = tmp_path / "artifacts"
    clean = trained(artifacts, promote=True)
    poisoned = trained(artifacts, "--poison-level", "0.3", "--min-accuracy", "0", promote=False)
    rows, truths = held_out_rows()
    story: dict[str, Any] = {"held_out_rows": len(rows), "clean": clean, "poisoned": poisoned}
    shadow = {"SHADOW_MODEL_DIR": str(artifacts / poisoned), **env}
    workers = int(env.get("WEB_CONCURRENCY", "1"))
    shared = "PREDICTION_STORE_URL" in env

    with monitored_service(artifacts / "latest", tmp_path / "stack", **shadow) as (svc, prom, am):
        svc.wait_for_log("shadow_loaded", timeout=30)
        waves(svc, rows, truths, 4, shared)
        served_acc = f'{ACCURACY}{{role="primary", model_version="{clean}"}}'
        shadow_acc = f'{ACCURACY}{{role="shadow", model_version="{poisoned}"}}'
        agreement = f'{AGREEMENT}{{model_version="{poisoned}"}}'
        wait_for(lambda: value(prom, shadow_acc), 30, "the quality rules to see the labels")
        story["shadow"] = {
            "served_accuracy": value(prom, served_acc),
            "shadow_accuracy": value(prom, shadow_acc),
            "agreement": value(prom, agreement),
        }
        measured = story["shadow"]
        assert measured["agreement"] < 0.95
        assert measured["shadow_accuracy"] < measured["served_accuracy"] - 0.05
        assert firing(am, "GlassboxModelQualityDrop") == []

        # The gate reads the same counts and refuses, saying why; forced, it promotes.
        asked = {"PROMETHEUS_URL": prom.url}
        refused = promotion(artifacts, "promote", poisoned, **asked)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused by the shadow gate" in refused.stdout
        assert "live accuracy" in refused.stdout
        said = json.loads(refused.stdout.splitlines()[-1])
        story["gate_refusal"] = said["message"]
        # Before any label could say so, what each model's calibrated confidence estimated.
        story["estimated_before_labels"] = {
            key: said[key] for key in ("shadow_estimated_accuracy", "served_estimated_accuracy")
        }
        estimated, live = story["estimated_before_labels"], story["shadow"]
        # The estimates before labels land where the labels later put each model.
        assert abs(estimated["shadow_estimated_accuracy"] - live["shadow_accuracy"]) < 0.05
        assert abs(estimated["served_estimated_accuracy"] - live["served_accuracy"]) < 0.05
        forced = promotion(artifacts, "promote", poisoned, "--force", **asked)
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert json.loads((artifacts / "promotions.jsonl").read_text().splitlines()[-1])["forced"]
        reload(svc, poisoned, workers)

        # Served now, the poisoned model is paged on once enough labels say it is wrong.
        started = time.monotonic()
        waves(svc, rows, truths, 2, shared)
        (alert,) = wait_for(
            lambda: firing(am, "GlassboxModelQualityDrop"), 60, "GlassboxModelQualityDrop"
        )
        story["alert_after_seconds"] = round(time.monotonic() - started, 1)
        assert alert["labels"]["model_version"] == poisoned
        assert alert["annotations"]["runbook_url"].endswith("#glassboxmodelqualitydrop")
        story["alert"] = alert["annotations"]["description"]
        story["served_poisoned_accuracy"] = value(
            prom, f'{ACCURACY}{{role="primary", model_version="{poisoned}"}}'
        )

        # Rolled back, the clean model serves again and the page resolves.
        back = promotion(artifacts, "rollback")
        assert back.returncode == 0, back.stdout + back.stderr
        reload(svc, clean, workers)
        started = time.monotonic()
        wait_for(lambda: firing(am, "GlassboxModelQualityDrop") == [], 60, "the alert to resolve")
        story["resolved_after_seconds"] = round(time.monotonic() - started, 1)
    print("\nQUALITY STORY " + json.dumps(story))
