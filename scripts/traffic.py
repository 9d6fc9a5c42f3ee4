"""Send a bounded mix of good and bad requests to a local Glassbox, so dashboards have data.

    python scripts/traffic.py [--url http://127.0.0.1:8000] [--seconds 60] [--rate 20]

The bodies come from the served model itself (GET /model): its example row, and copies of it
with each input drawn from its training data (numbers in range, known categories); bad
bodies give the first input a value of the wrong type. Only loopback URLs are accepted; it
stops by itself after --seconds.
"""

import argparse
import random
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import requests

Body = dict[str, Any]
# Traffic shape, not security: the draws below use `random` (S311) on purpose.


def inputs_of(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The typed inputs /model lists (a model from before contracts: all numbers)."""
    typed: list[dict[str, Any]] = model.get("inputs") or [
        {"name": name, "type": "number", **_range(model, name)} for name in model["feature_names"]
    ]
    return typed


def _range(model: dict[str, Any], name: str) -> dict[str, float]:
    bounds = model.get("feature_ranges", {}).get(name, {})
    return {"minimum": bounds["min"], "maximum": bounds["max"]} if bounds else {}


def bodies(model: dict[str, Any], count: int = 20) -> list[Body]:
    """The model's example, and copies with each input drawn from its training data: a
    number or integer within its range, a category among its categories, either boolean."""
    example: Body = model["example"]
    varied = [example]
    for _ in range(count - 1):
        row = dict(example)
        for item in inputs_of(model):
            low, high = item.get("minimum"), item.get("maximum")
            if item["type"] == "category":
                row[item["name"]] = random.choice(item["categories"])  # noqa: S311
            elif item["type"] == "boolean":
                row[item["name"]] = random.random() < 0.5  # noqa: S311
            elif low is not None and high is not None:
                value = random.uniform(low, high)  # noqa: S311
                row[item["name"]] = round(value) if item["type"] == "integer" else round(value, 3)
        varied.append(row)
    return varied


def bad_body(model: dict[str, Any]) -> Body:
    """The example with its first input of the wrong type: a 422 naming that field."""
    first = inputs_of(model)[0]
    wrong = 12345 if first["type"] == "category" else "not a number"
    return {**model["example"], first["name"]: wrong}


def one_request(session: requests.Session, url: str, good: list[Body], bad: Body) -> int:
    roll = random.random()  # noqa: S311
    headers = {"X-Request-ID": f"traffic-{uuid.uuid4().hex[:12]}"}
    if roll < 0.70:
        body = random.choice(good)  # noqa: S311
        return session.post(f"{url}/predict", json=body, headers=headers, timeout=5).status_code
    if roll < 0.85:
        batch = {"instances": random.choices(good, k=random.randint(2, 50))}  # noqa: S311
        return session.post(
            f"{url}/predict/batch", json=batch, headers=headers, timeout=5
        ).status_code
    if roll < 0.95:
        return session.post(f"{url}/predict", json=bad, headers=headers, timeout=5).status_code
    return session.get(f"{url}/no-such-page", headers=headers, timeout=5).status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("--url must point at this machine (127.0.0.1, localhost or ::1)")

    url = args.url.rstrip("/")
    counts: dict[int, int] = {}
    deadline = time.monotonic() + args.seconds
    with requests.Session() as session:
        answer = session.get(f"{url}/model", timeout=5)
        if answer.status_code != 200:
            print(f"GET {url}/model answered {answer.status_code}: {answer.text[:300]}")
            return 1
        model = answer.json()
        good, bad = bodies(model), bad_body(model)
        while time.monotonic() < deadline:
            status = one_request(session, url, good, bad)
            counts[status] = counts.get(status, 0) + 1
            time.sleep(1 / args.rate)
    print(" ".join(f"{status}:{count}" for status, count in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
