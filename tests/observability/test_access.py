"""The access line and metrics sample of every request (app/observability/access.py): the
requests answered in one event-loop turn are accounted together at the next, each once."""

import json

from tests.core.test_logging import run_python

TURNS = """
import asyncio, json, sys
from app.core.logging import configure_logging
configure_logging("INFO")
from app.observability import access
from app.observability.metrics import HTTP_REQUESTS

writes = []
write = access.logger.write
access.logger.write = lambda lines: (writes.append(len(lines)), write(lines))


def answered(number, status):
    scope = {"method": "POST", "path": "/predict", "client": ("10.0.0.1", 5),
             "headers": [(b"user-agent", b"t")], "state": {"request_id": f"r-{number}"}}
    access.account(scope, "/predict", status, 0.001)


def count(status):
    return HTTP_REQUESTS.labels("/predict", "POST", status)._value.get()


async def main():
    seen = {}
    for number in range(3):
        answered(number, 200)
    seen["same turn"] = [list(writes), count("200")]
    await asyncio.sleep(0)  # the next turn: the accounting pass
    await asyncio.sleep(0)  # and the one after: the counts it made reach the metric
    seen["next turn"] = [list(writes), count("200")]
    answered(3, 503)
    access.flush_accounts()  # what /metrics does before it renders
    seen["flushed"] = [list(writes), count("503")]
    print(json.dumps(seen), file=sys.stderr)

asyncio.run(main())
"""


def test_a_turns_requests_are_accounted_together_at_the_next_turn_each_once() -> None:
    result = run_python(TURNS)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stderr.strip().splitlines()[-1])
    assert seen == {
        "same turn": [[], 0.0],
        "next turn": [[3], 3.0],  # one write for the turn's three lines
        "flushed": [[3, 1], 1.0],
    }
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["request_id"] for line in lines] == ["r-0", "r-1", "r-2", "r-3"]
    assert [line["level"] for line in lines] == ["info"] * 3 + ["error"]
    assert all(line["client"] == "10.0.0.1:5" and line["user_agent"] == "t" for line in lines)
