"""The shared prediction store: a server that speaks the Redis protocol (Redis, Valkey).

PREDICTION_STORE_URL=redis://host:port/db (rediss:// for TLS; the password in the URL or
PREDICTION_STORE_PASSWORD). Every answer is kept as one hash per request,
`glassbox:prediction:<request id>`: `model`, `version`, `classes`, `outputs` (what it said
for each row) and `at` (unix time), each small enough for the server's compact encoding (a
value over hash-max-listpack-value, 64 B, makes it a hash table: one JSON field of ~100 B
took 425 B of the server's memory per request, five fields 337 B); `shadow`, the shadow's
answer, once it scored the request; `label:<row>`, claimed with HSETNX, so the first label
wins on whichever worker or replica it lands. A hash expires FEEDBACK_MAX_AGE_SECONDS
after the answer plus as long again (at most a day), so a label that comes too late is
told `late`, not `unknown`.

Off the request path, batched: the dataplane's pass gives this sink a turn's answers, and
`end_turn` queues them as one batch; one writer task per worker sends, every
WRITE_EVERY_SECONDS, what queued up -- answers and the shadow's answers together -- as one
script call (WRITE): one command for hundreds of rows. Measured here with redis-py (CPU of
the service per stored row): a pipeline of HSET + EXPIRE per request cost ~70 us for a
one-request pipeline and ~20 us at 16 requests, one script call ~7 us at 16 and ~3 us at 64;
a turn's answers alone (1-4 requests at 16 connections) cost /predict ~18 % of its
throughput, the window and the script make it a few per cent. hiredis made no difference
(the replies are small), so it is not a dependency. The
queue is bounded (QUEUE_BATCHES batches, QUEUE_ROWS rows): a store that is down or slow
costs predictions nothing -- what does not fit is dropped and counted
(model_prediction_store_rows_dropped_total), and every call has a TIMEOUT_SECONDS timeout.
An outage is logged once when it starts and once when it ends; writes resume by
themselves. redis-py's asyncio client, not a hand-written protocol.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from app.core.logging import get_logger
from app.ml.quality.store import (
    PredictionStore,
    Said,
    Stored,
    StoreUnavailableError,
    said_in,
)
from app.ml.serving.answers import Answer
from app.observability.metrics import (
    MODEL_PREDICTION_STORE_LOOKUPS_FAILED,
    MODEL_PREDICTION_STORE_ROWS_DROPPED,
    MODEL_PREDICTION_STORE_ROWS_WRITTEN,
)

logger = get_logger("glassbox.prediction_store")

KEY = "glassbox:prediction:"
TIMEOUT_SECONDS = 2.0  # a lookup, a claim or a batch: never longer (/feedback's 503)
QUEUE_BATCHES = 1000  # a batch is one loop turn's answers
QUEUE_ROWS = 100_000
PIPELINE_ROWS = 2_000  # the most rows one script call carries
WRITE_EVERY_SECONDS = 0.05  # a prediction can be labelled this long after its answer, at most
LATE_GRACE_SECONDS = 86_400.0

# One call for a window's writes: KEYS are the answers' keys, then the shadows' keys; ARGV
# the expiry, the number of answers, then an answer's five values, a shadow's one. A claim
# or a shadow's answer only for a prediction still stored: HSETNX or HSET on a key that
# expired would make a new one, without its expiry.
_WRITE = """
local ttl, answers, at = ARGV[1], tonumber(ARGV[2]), 3
for i = 1, #KEYS do
  if i <= answers then
    redis.call('HSET', KEYS[i], 'model', ARGV[at], 'version', ARGV[at + 1],
      'classes', ARGV[at + 2], 'outputs', ARGV[at + 3], 'at', ARGV[at + 4])
    redis.call('EXPIRE', KEYS[i], ttl)
    at = at + 5
  else
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('HSET', KEYS[i], 'shadow', ARGV[at])
    end
    at = at + 1
  end
end
return #KEYS
"""
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
"""

# (request id, the answer's five values in _WRITE's order or the shadow's answer, is it the
# shadow's, rows answered)
_Write = tuple[str, tuple[str | bytes, ...], bool, int]


def without_password(url: str) -> str:
    """The store's URL fit for logs and errors: user:password@ removed."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


class RedisStore(PredictionStore):
    def __init__(self, url: str, password: str, max_age_seconds: float) -> None:
        self._described = without_password(url)
        self._client = redis.Redis.from_url(
            url,
            password=password or None,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
        )
        self._claim = self._client.register_script(_CLAIM)
        self._write_all = self._client.register_script(_WRITE)
        self._ttl = int(max_age_seconds + min(max_age_seconds, LATE_GRACE_SECONDS))
        self._turn: list[_Write] = []
        self._queue: deque[list[_Write]] = deque()
        self._queued_rows = 0
        self._ready: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._failing: str | None = None  # the outage being reported, by its error

    @property
    def enabled(self) -> bool:
        return True

    def describe(self) -> str:
        return self._described

    def start(self) -> None:
        self._ready = asyncio.Event()
        self._writer = asyncio.get_running_loop().create_task(self._write_forever())

    async def close(self) -> None:
        """What is queued, written within TIMEOUT_SECONDS; then the connection closed."""
        if self._writer is not None:
            deadline = time.monotonic() + TIMEOUT_SECONDS
            while self._queue and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self._writer.cancel()
            self._writer = None
        await self._client.aclose()

    # -- the sink: after the response, in the dataplane's pass ---------------------------

    def record(self, answer: Answer) -> None:
        said = said_in(answer)
        name, version, classes, outputs = said
        values = (name, version, orjson.dumps(classes), orjson.dumps(outputs), repr(time.time()))
        self._turn.append((answer.request_id, values, False, len(outputs)))

    def end_turn(self) -> None:
        if self._turn:
            batch, self._turn = self._turn, []
            self._enqueue(batch)

    def shadow_ref(self, request_id: str) -> Any:
        return request_id

    def add_shadow(self, request_id: str, ref: Any, shadow: Said) -> None:  # noqa: ARG002
        """Batched with the answers: the shadow calls `end_turn` after each scoring."""
        self._turn.append((request_id, (orjson.dumps(shadow),), True, 0))

    def _enqueue(self, batch: list[_Write]) -> None:
        rows = _rows(batch)
        if len(self._queue) >= QUEUE_BATCHES or self._queued_rows + rows > QUEUE_ROWS:
            MODEL_PREDICTION_STORE_ROWS_DROPPED.inc(rows)
            return
        self._queue.append(batch)
        self._queued_rows += rows
        if self._ready is not None:
            self._ready.set()

    async def _write_forever(self) -> None:
        await self._ping()
        assert self._ready is not None
        while True:
            await self._ready.wait()
            await asyncio.sleep(WRITE_EVERY_SECONDS)  # what comes meanwhile goes out with it
            self._ready.clear()
            while self._queue:  # what queued up during a write goes out in the next one
                writes: list[_Write] = []
                rows = 0
                while self._queue and rows < PIPELINE_ROWS:
                    batch = self._queue.popleft()
                    writes += batch
                    rows += _rows(batch)
                self._queued_rows -= rows
                await self._write(writes, rows)

    async def _ping(self) -> None:
        try:
            await asyncio.wait_for(_awaitable(self._client.ping()), TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError) as exc:
            self._outage(exc)

    async def _write(self, batch: list[_Write], rows: int) -> None:
        answers = [write for write in batch if not write[2]]
        ordered = answers + [write for write in batch if write[2]]
        keys = [KEY + write[0] for write in ordered]
        values = [value for write in ordered for value in write[1]]
        try:
            await asyncio.wait_for(
                self._write_all(keys=keys, args=[self._ttl, len(answers), *values]),
                TIMEOUT_SECONDS,
            )
        except (RedisError, OSError, TimeoutError) as exc:
            MODEL_PREDICTION_STORE_ROWS_DROPPED.inc(rows)
            self._outage(exc)
            return
        MODEL_PREDICTION_STORE_ROWS_WRITTEN.inc(rows)
        if self._failing is not None:
            self._failing = None
            logger.info("prediction_store_reachable", store=self._described)

    def _outage(self, exc: BaseException) -> None:
        """One line when an outage starts (or its cause changes), not one per batch."""
        why = f"{type(exc).__name__}: {exc}"[:300]
        if type(exc).__name__ != self._failing:
            self._failing = type(exc).__name__
            logger.error(
                "prediction_store_unavailable",
                store=self._described,
                message=why,
                effect="answers are served; their rows are not stored (counted in "
                "model_prediction_store_rows_dropped_total) and /feedback answers 503 "
                "until the store answers again",
            )

    # -- /feedback -----------------------------------------------------------------------

    async def find(self, request_id: str) -> Stored | None:
        try:
            found = await asyncio.wait_for(
                _awaitable(self._client.hgetall(KEY + request_id)), TIMEOUT_SECONDS
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._lookup_failed(exc) from exc
        if b"version" not in found:
            return None  # never stored, expired, or only a shadow's answer left
        said = (
            found[b"model"].decode(),
            found[b"version"].decode(),
            tuple(orjson.loads(found[b"classes"])),
            tuple(orjson.loads(found[b"outputs"])),
        )
        shadow = found.get(b"shadow")
        labelled = frozenset(int(k[6:]) for k in found if k.startswith(b"label:"))
        return Stored(said, float(found[b"at"]), _said(shadow) if shadow else None, labelled)

    async def claim(self, request_id: str, row: int) -> bool:
        try:
            claimed = await asyncio.wait_for(
                self._claim(keys=[KEY + request_id], args=[f"label:{row}"]), TIMEOUT_SECONDS
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._lookup_failed(exc) from exc
        return int(claimed) == 1

    def _lookup_failed(self, exc: BaseException) -> StoreUnavailableError:
        MODEL_PREDICTION_STORE_LOOKUPS_FAILED.inc()
        self._outage(exc)
        return StoreUnavailableError(self._described, f"{type(exc).__name__}: {exc}"[:200])


def _rows(batch: list[_Write]) -> int:
    return sum(write[3] for write in batch)


def _said(raw: bytes) -> Said:
    name, version, classes, outputs = orjson.loads(raw)
    return (name, version, tuple(classes), tuple(outputs))


_T = TypeVar("_T")


def _awaitable(call: Awaitable[_T] | _T) -> Awaitable[_T]:
    """redis-py annotates its sync and asyncio clients' commands alike (`Awaitable[T] | T`);
    on the asyncio client every command is awaitable: this says so to the type checker."""
    assert isinstance(call, Awaitable)
    return call
