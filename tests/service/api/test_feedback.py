"""POST /feedback and /feedback/batch against the real service, with a shadow candidate:
statuses, 422s naming the field, the quality counters for both roles, the shadow's
agreement, and the prediction and feedback events joined by request id."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.api.test_predict import SETOSA, VERSICOLOR, VIRGINICA, assert_error
from tests.support.service import Service, running_service, sample

FLOWERS = {"setosa": SETOSA, "versicolor": VERSICOLOR, "virginica": VIRGINICA}


@pytest.fixture(scope="module")
def shadowed(
    model_dir: Path, candidate_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    with running_service(
        model_dir,
        tmp_path_factory.mktemp("feedback"),
        SHADOW_MODEL_DIR=str(candidate_dir),
        PREDICTION_LOG_SAMPLE="1",
        PREDICTION_LOG_REDACT="petal_width",
    ) as service:
        yield service


def versions(service: Service) -> tuple[str, str]:
    loaded = service.wait_for_log("shadow_loaded")[0]
    return loaded["serving"], loaded["model_version"]


def test_a_label_is_recorded_then_a_duplicate_and_an_unknown_id_is_said(
    shadowed: Service,
) -> None:
    primary, _ = versions(shadowed)
    prediction = shadowed.post("/predict", SETOSA).json()
    request_id = prediction["request_id"]
    wait_for_shadow(shadowed)

    first = shadowed.post("/feedback", {"request_id": request_id, "label": "setosa"})
    again = shadowed.post("/feedback", {"request_id": request_id, "label": "setosa"})
    unknown = shadowed.post("/feedback", {"request_id": "never-made", "label": "setosa"})

    assert first.status_code == again.status_code == unknown.status_code == 200
    assert first.json() == {
        "request_id": request_id,
        "row": 0,
        "status": "recorded",
        "model_version": primary,
        "predicted": "setosa",
    }
    assert again.json()["status"] == "duplicate"
    assert unknown.json()["status"] == "unknown"
    # Its log line keeps the label: nothing else does (issue 34).
    (said,) = [
        line for line in shadowed.lines_for(unknown.headers["x-request-id"])
        if line["event"] == "feedback" and line["prediction_request_id"] == "never-made"
    ]  # fmt: skip
    assert (said["status"], said["label"]) == ("unknown", "setosa")
    scraped = shadowed.metrics()
    model = {"model_name": prediction_model(shadowed), "model_version": primary}
    assert sample(scraped, "model_feedback_total", **model, status="recorded") >= 1
    assert sample(scraped, "model_feedback_total", **model, status="duplicate") >= 1


def wait_for_shadow(service: Service, timeout: float = 10.0) -> None:
    """Until the shadow has scored every row served so far (it drains its queue every 10 ms,
    off the request path): labels sent sooner would score the served model only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scraped = service.metrics()
        if sample(scraped, "model_shadow_loaded") == 0:
            return  # no shadow (or one idle beside its own version): nothing to wait for
        served = sum(v for (name, _), v in scraped.items() if name == "model_predictions_total")
        shadow = sum(v for (name, _), v in scraped.items() if name == "model_shadow_rows_total")
        if shadow >= served:
            return
        time.sleep(0.05)
    raise AssertionError("the shadow did not catch up")


def prediction_model(service: Service) -> str:
    return str(service.wait_for_log("model_loaded")[0]["model_name"])


def test_labels_the_model_cannot_have_are_422s_naming_the_field(shadowed: Service) -> None:
    request_id = shadowed.post("/predict", SETOSA).json()["request_id"]
    wait_for_shadow(shadowed)
    bad_label = shadowed.post("/feedback", {"request_id": request_id, "label": "tulip"})
    body = assert_error(bad_label, 422, "validation_error")
    assert body["error"]["details"][0]["field"] == "label"
    assert "setosa, versicolor, virginica" in body["error"]["details"][0]["message"]
    bad_row = shadowed.post("/feedback", {"request_id": request_id, "label": "setosa", "row": 3})
    assert assert_error(bad_row, 422, "validation_error")["error"]["details"][0]["field"] == "row"
    bad_id = shadowed.post("/feedback", {"request_id": "has spaces", "label": "setosa"})
    details = assert_error(bad_id, 422, "validation_error")["error"]["details"]
    assert details[0]["field"] == "request_id"
    # The refused label recorded nothing: the row still takes its label.
    good = shadowed.post("/feedback", {"request_id": request_id, "label": "setosa"})
    assert good.json()["status"] == "recorded"


def test_a_batch_is_checked_whole_and_scores_the_primary_and_the_shadow(
    shadowed: Service,
) -> None:
    primary, candidate = versions(shadowed)
    truths = list(FLOWERS) * 10
    batch = shadowed.post(
        "/predict/batch", {"instances": [FLOWERS[name] for name in truths]}
    ).json()
    request_id = batch["request_id"]
    items = [
        {"request_id": request_id, "row": row, "label": label} for row, label in enumerate(truths)
    ]
    name = prediction_model(shadowed)
    wait_for_shadow(shadowed)
    refused = shadowed.post("/feedback/batch", {"feedback": [*items, {**items[0], "label": "x"}]})
    details = assert_error(refused, 422, "validation_error")["error"]["details"]
    assert [detail["field"] for detail in details] == [f"feedback[{len(items)}].label"]

    answered = shadowed.post("/feedback/batch", {"feedback": items})

    assert answered.status_code == 200, answered.text
    assert [result["status"] for result in answered.json()["results"]] == ["recorded"] * 30
    scraped = shadowed.metrics()

    def labelled(version: str, role: str) -> float:
        return sum(
            value
            for (metric, labels), value in scraped.items()
            if metric == "model_feedback_confusion_total"
            and dict(labels) | {"model_version": version, "role": role} == dict(labels)
            and dict(labels)["model_name"] == name
        )

    # Every labelled row counted once per role (the earlier tests labelled 2 single rows).
    assert labelled(primary, "primary") == 32
    assert labelled(candidate, "shadow") == 32
    agreed = sum(
        sample(scraped, "model_shadow_rows_total", model_name=name, model_version=candidate,
               primary_version=primary, agreement=agreement)
        for agreement in ("true", "false")
    )  # fmt: skip
    assert agreed >= 32  # every row the shadow scored, single or batch
    assert sample(scraped, "model_shadow_loaded") == 1
    assert sample(scraped, "model_training_metric", model_name=name, model_version=candidate,
                  role="shadow", metric="accuracy") > 0  # fmt: skip


def test_prediction_and_feedback_events_join_by_request_id(shadowed: Service) -> None:
    request_id = shadowed.post("/predict", VIRGINICA).json()["request_id"]
    shadowed.post("/feedback", {"request_id": request_id, "label": "virginica"})

    events = [
        line for line in shadowed.log_lines() if line.get("prediction_request_id") == request_id
    ]

    by_event = {line["event"]: line for line in events}
    assert set(by_event) == {"prediction", "feedback"}, events
    prediction = by_event["prediction"]
    assert prediction["request_id"] == request_id
    assert prediction["inputs"] == [{**VIRGINICA, "petal_width": "[redacted]"}]
    assert prediction["outputs"] == ["virginica"]
    assert (by_event["feedback"]["label"], by_event["feedback"]["status"]) == (
        "virginica",
        "recorded",
    )
    # One access line per call, as for every request.
    access = [line for line in shadowed.lines_for(request_id) if line["event"] == "http_request"]
    assert len(access) == 1
    assert len(json.dumps(prediction)) < 1000


def test_a_shadow_that_fails_its_checks_leaves_the_served_model_alone(
    model_dir: Path, tmp_path: Path
) -> None:
    with running_service(model_dir, tmp_path, SHADOW_MODEL_DIR=str(tmp_path / "missing")) as svc:
        failed = svc.wait_for_log("shadow_load_failed")[0]
        assert failed["shadow_dir"] == str(tmp_path / "missing")
        assert svc.post("/predict", SETOSA).status_code == 200
        assert sample(svc.metrics(), "model_shadow_loaded") == 0
