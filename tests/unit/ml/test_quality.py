"""The prediction memory and the quality book on their own: eviction, late, duplicate and
unknown labels, and the counters PromQL reads (prometheus_client's real registry)."""

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest
from prometheus_client import REGISTRY

from app.ml.quality.feedback import Feedback, Judged, LabelError, QualityBook
from app.ml.quality.memory import PredictionMemory
from app.ml.quality.store import Said, Stored, said

CLASSES = ("cat", "dog")
T = TypeVar("T")


def run(call: Awaitable[T]) -> T:
    """The store's and the book's calls are coroutines (a shared store is asked over the
    network); the memory answers at once."""
    return asyncio.run(_await(call))


async def _await(call: Awaitable[T]) -> T:
    return await call


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def classifier(version: str, outputs: list[int]) -> Said:
    return said("pets-classifier", version, CLASSES, outputs)


def run_check(book: QualityBook, item: Feedback) -> tuple[Stored | None, str | float]:
    return run(book.check(item))


def run_record(
    book: QualityBook, item: Feedback, stored: Stored | None, truth: str | float
) -> Judged:
    return run(book.record(item, stored, truth))


def test_the_oldest_rows_are_forgotten_first_and_counted() -> None:
    memory = PredictionMemory(capacity=3)
    before = value("model_prediction_memory_evicted_total")
    memory.remember("a", classifier("v1", [0, 1]))
    memory.remember("b", classifier("v1", [1]))
    memory.remember("c", classifier("v1", [0]))  # 4 rows > 3: "a" (2 rows) goes
    assert run(memory.find("a")) is None
    assert run(memory.find("b")) is not None
    assert run(memory.find("c")) is not None
    memory.publish()  # the gauge and the counter are set when /metrics renders
    assert value("model_prediction_memory_evicted_total") - before == 2
    assert value("model_prediction_memory_rows") == 2


def test_a_reused_request_id_replaces_the_older_prediction() -> None:
    memory = PredictionMemory(capacity=10)
    memory.remember("same", classifier("v1", [0, 1, 1]))
    memory.remember("same", classifier("v2", [1]))
    memory.publish()
    assert value("model_prediction_memory_rows") == 1
    stored = run(memory.find("same"))
    assert stored is not None
    assert stored.said[1] == "v2"


def test_a_label_is_recorded_once_for_the_primary_and_the_shadow() -> None:
    memory = PredictionMemory(capacity=10)
    book = QualityBook(memory, max_age_seconds=60)
    memory.remember("r1", classifier("v-q1", [0, 1]))
    memory.add_shadow("r1", memory.shadow_ref("r1"), classifier("v-q2", [1, 1]))
    confusion = "model_feedback_confusion_total"
    labels = {"model_name": "pets-classifier", "actual_class": "cat"}

    found, truth = run_check(book, Feedback("r1", "cat", row=0))
    judged = run_record(book, Feedback("r1", "cat", row=0), found, truth)

    assert (judged.status, judged.predicted, judged.model_version) == ("recorded", "cat", "v-q1")
    primary = {**labels, "model_version": "v-q1", "role": "primary", "predicted_class": "cat"}
    shadow = {**labels, "model_version": "v-q2", "role": "shadow", "predicted_class": "dog"}
    assert value(confusion, **primary, correct="true") == 1
    assert value(confusion, **shadow, correct="false") == 1
    found, truth = run_check(book, Feedback("r1", "cat", row=0))  # asked again
    again = run_record(book, Feedback("r1", "cat", row=0), found, truth)
    assert again.status == "duplicate"
    assert value(confusion, **primary, correct="true") == 1
    statuses = {"model_name": "pets-classifier", "model_version": "v-q1"}
    assert value("model_feedback_total", **statuses, status="duplicate") == 1


def test_of_two_labels_checked_at_once_the_first_to_claim_the_row_wins() -> None:
    """Both saw the row unlabelled (two workers, say): the claim decides, atomically."""
    memory = PredictionMemory(capacity=10)
    book = QualityBook(memory, max_age_seconds=60)
    memory.remember("race", classifier("v-q4", [0]))
    first, truth = run_check(book, Feedback("race", "cat"))
    second, _ = run_check(book, Feedback("race", "cat"))
    assert run_record(book, Feedback("race", "cat"), first, truth).status == "recorded"
    assert run_record(book, Feedback("race", "cat"), second, truth).status == "duplicate"


def test_unknown_late_and_impossible_labels() -> None:
    memory = PredictionMemory(capacity=10)
    book = QualityBook(memory, max_age_seconds=0.05)
    memory.remember("old", classifier("v-q3", [0]))
    unknown = {"model_name": "", "model_version": "", "status": "unknown"}
    unknown_before = value("model_feedback_total", **unknown)

    entry, truth = run_check(book, Feedback("never-seen", "cat"))
    assert run_record(book, Feedback("never-seen", "cat"), entry, truth).status == "unknown"
    assert value("model_feedback_total", **unknown) == unknown_before + 1
    with pytest.raises(LabelError) as bad_label:
        run_check(book, Feedback("old", "fish"))
    assert bad_label.value.field == "label"
    with pytest.raises(LabelError) as bad_row:
        run_check(book, Feedback("old", "cat", row=1))
    assert bad_row.value.field == "row"
    time.sleep(0.1)
    entry, truth = run_check(book, Feedback("old", "cat"))
    assert run_record(book, Feedback("old", "cat"), entry, truth).status == "late"


def test_a_regressor_scores_absolute_and_squared_error() -> None:
    memory = PredictionMemory(capacity=10)
    book = QualityBook(memory, max_age_seconds=60)
    memory.remember("p", said("price-regressor", "v-r1", (), [10.0, 20.0]))
    for row, label in ((0, 13.0), (1, 16.0)):
        entry, truth = run_check(book, Feedback("p", label, row=row))
        assert run_record(book, Feedback("p", label, row=row), entry, truth).status == "recorded"
    labels = {"model_name": "price-regressor", "model_version": "v-r1", "role": "primary"}
    assert value("model_feedback_absolute_error_sum", **labels) == pytest.approx(7.0)
    assert value("model_feedback_absolute_error_count", **labels) == 2
    assert value("model_feedback_squared_error_total", **labels) == pytest.approx(25.0)
    with pytest.raises(LabelError):
        run_check(book, Feedback("p", "expensive"))
    with pytest.raises(LabelError):
        run_check(book, Feedback("p", float("nan")))


def test_the_promotion_gate_and_the_dashboards_share_their_thresholds() -> None:
    """Two homes, one value: promotion/gate.py cannot import the monitoring mixin."""
    from monitoring.mixin import config
    from promotion import gate

    assert gate.MIN_AGREEMENT == config.SHADOW_MIN_AGREEMENT
    assert gate.MAX_ACCURACY_LOSS == config.SHADOW_MAX_ACCURACY_LOSS
    assert gate.MIN_LABELS == config.QUALITY_MIN_LABELS
    assert gate.WINDOW == config.QUALITY_WINDOW
    assert gate.SELECTOR == config.SELECTOR


def test_remembered_predictions_are_left_alone_by_the_garbage_collector() -> None:
    """Plain tuples of atoms: the collector untracks them, one nesting level per pass, so
    after three none is tracked (as objects they made full collections the shadow bench's
    p99, app/ml/quality/memory.py)."""
    import gc

    memory = PredictionMemory(capacity=100)
    gc.freeze()  # as the service does at startup: CLASSES is now tracked for good
    try:
        served, shadow = classifier("v-gc", [0, 1]), classifier("v-gc2", [1, 1])
        memory.remember("t", served)
        memory.add_shadow("t", memory.shadow_ref("t"), shadow)
        for _ in range(3):
            gc.collect()
        assert not gc.is_tracked(memory.shadow_ref("t"))
        assert not gc.is_tracked(memory._shadow["t"])
    finally:
        gc.unfreeze()
