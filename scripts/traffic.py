"""Send a bounded mix of good and bad requests to a local Glassbox, so dashboards have data.

    python scripts/traffic.py [--url http://127.0.0.1:8000] [--seconds 60] [--rate 20]

Only loopback URLs are accepted; it stops by itself after --seconds.
"""

import argparse
import random
import sys
import time
import uuid
from urllib.parse import urlparse

import requests

FLOWERS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.3, "petal_width": 1.3},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.3},
]


def one_request(session: requests.Session, url: str) -> int:
    roll = random.random()  # noqa: S311 - traffic shape, not security
    headers = {"X-Request-ID": f"traffic-{uuid.uuid4().hex[:12]}"}
    if roll < 0.70:
        body = random.choice(FLOWERS)  # noqa: S311
        return session.post(f"{url}/predict", json=body, headers=headers, timeout=5).status_code
    if roll < 0.85:
        batch = {"instances": random.choices(FLOWERS, k=random.randint(2, 50))}  # noqa: S311
        return session.post(
            f"{url}/predict/batch", json=batch, headers=headers, timeout=5
        ).status_code
    if roll < 0.95:
        bad: dict[str, float | str] = {"sepal_length": -1, "sepal_width": "wide"}
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

    counts: dict[int, int] = {}
    deadline = time.monotonic() + args.seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            status = one_request(session, args.url.rstrip("/"))
            counts[status] = counts.get(status, 0) + 1
            time.sleep(1 / args.rate)
    print(" ".join(f"{status}:{count}" for status, count in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
