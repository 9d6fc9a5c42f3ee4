"""What follows an answer (app/ml/predictor.py): its metrics, drift and `on_predicted`
(remembered for feedback, queued for the shadow) run at the next event-loop turn for every
answer of the turn, before any later request is read; with no loop running, at once."""

import asyncio
from pathlib import Path
from typing import Any

from app.ml.loading import load_predictor
from app.ml.predictor import Predictions, Predictor
from app.observability.metrics import MODEL_PREDICTIONS


def _served(predictor: Predictor) -> float:
    return float(
        sum(
            MODEL_PREDICTIONS.labels(predictor.name, predictor.version, label)._value.get()
            for label in predictor.class_names
        )
    )


def test_answers_are_recorded_at_the_next_loop_turn_each_once(model_dir: Path) -> None:
    predictor = load_predictor(model_dir, None)
    recorded: list[tuple[str, list[int]]] = []

    def remember(_: Predictor, rows: Any, predictions: Predictions, request_id: str) -> None:
        recorded.append((request_id, predictions.winners))

    predictor.on_predicted = remember
    rows = predictor.matrix([predictor.contract.encode_row(predictor.example)])
    before = _served(predictor)

    async def one_turn() -> dict[str, Any]:
        answers = [predictor.predict(rows, f"r-{n}").winners for n in range(3)]
        seen: dict[str, Any] = {"same turn": (list(recorded), _served(predictor) - before)}
        await asyncio.sleep(0)  # the next turn: each answer recorded
        await asyncio.sleep(0)  # and the one after: the counts it made reach the metric
        seen["next turn"] = (list(recorded), _served(predictor) - before)
        seen["answers"] = answers
        return seen

    seen = asyncio.run(one_turn())
    assert seen["same turn"] == ([], 0)
    assert seen["next turn"] == ([(f"r-{n}", seen["answers"][n]) for n in range(3)], 3)

    predictor.predict(rows, "no-loop")  # a script: recorded at once
    assert recorded[-1][0] == "no-loop"
    assert _served(predictor) - before == 4


def test_one_answer_failing_to_record_costs_the_others_nothing(model_dir: Path) -> None:
    predictor = load_predictor(model_dir, None)
    recorded: list[str] = []

    def remember(_: Predictor, rows: Any, predictions: Predictions, request_id: str) -> None:
        if request_id == "r-1":
            raise RuntimeError("a broken memory")
        recorded.append(request_id)

    predictor.on_predicted = remember
    rows = predictor.matrix([predictor.contract.encode_row(predictor.example)])

    async def one_turn() -> None:
        for n in range(3):
            predictor.predict(rows, f"r-{n}")
        await asyncio.sleep(0)

    asyncio.run(one_turn())
    assert recorded == ["r-0", "r-2"]
