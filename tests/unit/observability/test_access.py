"""The access line and metrics sample of every request (app/observability/access.py): the
requests answered in one event-loop turn are accounted together in the deferred pass at
the next, each once, their lines in one write."""

import asyncio
import json
from typing import Any

import pytest

from app.core.deferred import flush_all
from app.observability import access
from app.observability.metrics import HTTP_REQUESTS


def _answered(number: int, status: int) -> None:
    scope = {
        "method": "POST",
        "path": "/predict",
        "client": ("10.0.0.1", 5),
        "headers": [(b"user-agent", b"t")],
        "state": {"request_id": f"access-{number}"},
    }
    access.account(scope, "/access-test", status, 0.001)


def _count(status: str) -> float:
    value: float = HTTP_REQUESTS.labels("/access-test", "POST", status)._value.get()
    return value


def test_a_turns_requests_are_accounted_together_at_the_next_turn_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[list[bytes]] = []
    monkeypatch.setattr(access.logger, "write", lambda lines: writes.append(list(lines)))
    before = {status: _count(status) for status in ("200", "503")}

    async def turns() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for number in range(3):
            _answered(number, 200)
        seen["same turn"] = [len(writes), _count("200") - before["200"]]
        await asyncio.sleep(0)  # the next turn: the deferred pass, lines and counts
        seen["next turn"] = [[len(w) for w in writes], _count("200") - before["200"]]
        _answered(3, 503)
        flush_all()  # what /metrics does before it renders
        seen["flushed"] = [[len(w) for w in writes], _count("503") - before["503"]]
        return seen

    seen = asyncio.run(turns())
    assert seen == {
        "same turn": [0, 0.0],
        "next turn": [[3], 3.0],  # one write for the turn's three lines
        "flushed": [[3, 1], 1.0],
    }
    lines = [json.loads(line) for write in writes for line in write]
    assert [line["request_id"] for line in lines] == [f"access-{n}" for n in range(4)]
    assert [line["level"] for line in lines] == ["info"] * 3 + ["error"]
    assert all(line["client"] == "10.0.0.1:5" and line["user_agent"] == "t" for line in lines)
