"""What follows an answer (app/dataplane/): every sink of the list hears every answer, in
order, in the deferred pass at the next event-loop turn (with no loop running, at once);
one sink failing on one answer costs nothing else."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.dataplane import DataPlane
from app.dataplane.sinks import ModelMetrics
from app.ml.quality.feedback import QualityBook
from app.ml.quality.memory import PredictionMemory
from app.ml.serving.answers import Answer, Sink
from app.ml.serving.registry import ModelRegistry
from app.ml.serving.sources import LocalDirectory
from app.observability.metrics import MODEL_PREDICTIONS


class Heard(Sink):
    """A sink that keeps what it heard, and fails on the request ids it is told to."""

    def __init__(self, name: str, log: list[tuple[str, str]], fail_on: str = "") -> None:
        self.name, self._log, self._fail_on = name, log, fail_on

    def record(self, answer: Answer) -> None:
        if answer.request_id == self._fail_on:
            raise RuntimeError("a broken sink")
        self._log.append((self.name, answer.request_id))

    def end_turn(self) -> None:
        self._log.append((self.name, "end of turn"))


def _dataplane(model_dir: Path, sinks: list[Sink]) -> DataPlane:
    registry = ModelRegistry(LocalDirectory(model_dir))
    registry.hooks.extend(sink for sink in sinks if isinstance(sink, ModelMetrics))
    registry.load()
    book = QualityBook(PredictionMemory(0), 60)
    return DataPlane(registry, sinks, refuse_outside_training=False, feedback=book)


def _served(dataplane: DataPlane) -> float:
    runtime = dataplane.model()
    return float(
        sum(
            MODEL_PREDICTIONS.labels(runtime.name, runtime.version, label)._value.get()
            for label in runtime.class_names
        )
    )


def _ask(dataplane: DataPlane, request_id: str) -> list[int]:
    runtime = dataplane.model()
    rows = runtime.matrix([runtime.contract.encode_row(runtime.example)])
    return dataplane.infer(runtime, rows, {"request_id": request_id}).winners


def test_every_sink_hears_every_answer_in_order_at_the_next_turn(model_dir: Path) -> None:
    heard: list[tuple[str, str]] = []
    dataplane = _dataplane(model_dir, [ModelMetrics(), Heard("a", heard), Heard("b", heard)])
    before = _served(dataplane)

    async def one_turn() -> dict[str, Any]:
        for number in range(3):
            _ask(dataplane, f"r-{number}")
        seen: dict[str, Any] = {"same turn": (list(heard), _served(dataplane) - before)}
        await asyncio.sleep(0)  # the next turn: each answer through every sink, counts in
        seen["next turn"] = (list(heard), _served(dataplane) - before)
        return seen

    seen = asyncio.run(one_turn())
    assert seen["same turn"] == ([], 0)
    in_order = [(sink, f"r-{n}") for n in range(3) for sink in ("a", "b")]
    assert seen["next turn"] == ([*in_order, ("a", "end of turn"), ("b", "end of turn")], 3)

    _ask(dataplane, "no-loop")  # a script: recorded at once
    assert heard[-3:] == [("b", "no-loop"), ("a", "end of turn"), ("b", "end of turn")]
    assert _served(dataplane) - before == 4


def test_one_sink_failing_on_one_answer_costs_nothing_else(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heard: list[tuple[str, str]] = []
    dataplane = _dataplane(model_dir, [Heard("broken", heard, fail_on="r-1"), Heard("b", heard)])

    async def one_turn() -> None:
        for number in range(3):
            _ask(dataplane, f"r-{number}")
        await asyncio.sleep(0)

    asyncio.run(one_turn())
    answers = [entry for entry in heard if entry[1] != "end of turn"]
    assert answers == [
        ("broken", "r-0"),
        ("b", "r-0"),
        ("b", "r-1"),  # the other sink still heard the answer the broken one failed on
        ("broken", "r-2"),
        ("b", "r-2"),
    ]
    failures = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"sink_failed"' in line
    ]
    assert [(line["sink"], line["request_id"]) for line in failures] == [("broken", "r-1")]
