"""The one owner of the work that follows a response: what runs after it, when, in what order.

A request keeps only what it must (a tuple, an answer) and leaves the rest for later: its
access line and HTTP sample, what the dataplane's sinks make of its answer (metrics, drift,
the prediction memory, the shadow's queue, events), the counts those add up. Done for each
request right after its response, with the cache as cold as it is between requests, that
work was over a third of the app's own time per /predict; done for every request of an
event-loop turn in one pass at the start of the next turn, its code stays warm
(docs/performance.md#issue-21). A turn's callbacks run before the I/O of the next turn, so
nothing a later request could see (a label for an answer) is still waiting.

Two kinds of stage, run in one declared order (`ORDER`):

- a `TurnBuffer` keeps a turn's items and records each at the next turn; one item failing
  is logged with its request id and costs the others nothing;
- a scheduled stage (`schedule`) runs on a timer, or only when everything is flushed:
  drift's bucketing, the estimated quality, the shadow's scoring, the memory's gauges, this
  worker's exemplars.

`flush_all()` runs every stage now, in that order: /metrics (so a scrape sees every request
answered before it), a model swap and shutdown call it, and nothing else flushes. With no
event loop running (a script, a test calling in directly), a buffer records at once.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.core.logging import get_logger

logger = get_logger("glassbox.deferred")

T = TypeVar("T")

# The declared order of every stage, earliest first. Answers come first: their sinks write
# the access line's fields and make counts; the access line follows; the shadow scores what
# the answers queued; drift buckets the rows they kept, the estimates estimate the answers
# they kept; counts then reach the metrics
# (everything before made some); gauges read state the stages before changed; the exemplars
# file last, with this flush's exemplars in it.
ORDER = ("answers", "access", "shadow", "drift", "estimates", "counts", "gauges", "exemplars")


def _rank(stage: str) -> int:
    return ORDER.index(stage)


class TurnBuffer(Generic[T]):
    """Items of this loop turn, each recorded at the start of the next by `record`; `done`
    follows a turn's records (one write for a turn's lines, one pipeline for its entries).
    Used from the event loop only (or with none running)."""

    def __init__(
        self,
        stage: str,
        record: Callable[[T], None],
        *,
        done: Callable[[], None] | None = None,
        request_id: Callable[[T], str | None] = lambda _item: None,
        owner: "Deferred | None" = None,
    ) -> None:
        self.stage = stage
        self.rank = _rank(stage)
        self._record = record
        self._done = done
        self._request_id = request_id
        self._owner = owner or DEFERRED
        self._items: list[T] = []

    def add(self, item: T) -> None:
        items = self._items
        items.append(item)
        if len(items) == 1:
            self._owner.wake(self)

    def __len__(self) -> int:
        return len(self._items)

    def flush(self) -> None:
        """Record every item kept so far, each on its own."""
        items, self._items = self._items, []
        record = self._record
        for item in items:
            try:
                record(item)
            except Exception:  # one item's failure must not cost the others their records
                logger.exception(
                    "deferred_record_failed", stage=self.stage, request_id=self._request_id(item)
                )
        if self._done is not None and items:
            try:
                self._done()
            except Exception:
                logger.exception("deferred_record_failed", stage=self.stage, request_id=None)


@dataclass
class Periodic:
    """A stage run every `seconds` while its loop runs (None: never on a timer), and by
    every flush_all."""

    stage: str
    seconds: float | None
    run: Callable[[], None]
    rank: int = field(init=False)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.rank = _rank(self.stage)

    def flush(self) -> None:
        self.run()


class Deferred:
    """The per-turn pass and the periodic stages of one process (`DEFERRED`)."""

    def __init__(self) -> None:
        self._woken: list[TurnBuffer[object]] = []  # buffers holding items, this turn
        self._periodic: list[Periodic] = []
        self._running = False
        # The loop a pass is due on (call_soon'd): a loop that closed with one still due
        # (a test's asyncio.run) must not keep the next loop's items waiting.
        self._due_on: asyncio.AbstractEventLoop | None = None

    def wake(self, buffer: "TurnBuffer[T]") -> None:
        """`buffer` holds items: pass over it at the next loop turn (or now, with none)."""
        self._woken.append(buffer)  # type: ignore[arg-type]
        if self._running:
            return  # the pass under way takes it
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run_turn()
            return
        if self._due_on is not loop:
            self._due_on = loop
            loop.call_soon(self._due)

    def _due(self) -> None:
        self._due_on = None
        self.run_turn()

    def run_turn(self) -> None:
        """Every buffer holding items, in the declared order, until none holds any (a
        buffer may fill a later one: answers make counts)."""
        if self._running:
            return
        self._running = True
        try:
            while self._woken:
                woken, self._woken = self._woken, []
                woken.sort(key=_by_rank)
                for buffer in woken:
                    buffer.flush()
        finally:
            self._running = False

    def schedule(self, stage: str, seconds: float | None, run: Callable[[], None]) -> Periodic:
        """Run `run` every `seconds` on the running loop (None: only in flush_all), and in
        every flush_all, until `cancel`. Call from the loop (the app's startup)."""
        periodic = Periodic(stage, seconds, run)
        self._periodic.append(periodic)
        self._periodic.sort(key=_by_rank)
        if seconds is None:
            return periodic
        loop = asyncio.get_running_loop()

        def tick() -> None:
            _guarded(periodic)
            if periodic in self._periodic:
                periodic._timer = loop.call_later(seconds, tick)

        periodic._timer = loop.call_later(seconds, tick)
        return periodic

    def cancel(self, periodic: Periodic) -> None:
        """Stop `periodic`'s timer; it runs once more, now, so nothing it held is lost."""
        if periodic in self._periodic:
            self._periodic.remove(periodic)
        if periodic._timer is not None:
            periodic._timer.cancel()
            periodic._timer = None
        _guarded(periodic)

    def flush_all(self) -> None:
        """Every stage now, in the declared order: the per-turn buffers holding items and
        the periodic stages. What /metrics, a model swap and shutdown call."""
        if self._running:
            return  # called from inside a pass (a record that flushes): it finishes
        self._running = True
        try:
            done: set[int] = set()
            while True:
                pending = [p for p in self._periodic if id(p) not in done]
                stages: list[TurnBuffer[object] | Periodic] = [*self._woken, *pending]
                if not stages:
                    break
                first = min(stages, key=_by_rank)
                if isinstance(first, TurnBuffer):
                    self._woken = [b for b in self._woken if b is not first]
                    first.flush()
                else:
                    done.add(id(first))
                    _guarded(first)
        finally:
            self._running = False


def _by_rank(stage: "TurnBuffer[object] | Periodic") -> int:
    return stage.rank


def _guarded(periodic: Periodic) -> None:
    try:
        periodic.flush()
    except Exception:  # a stage failing must not stop the others, nor its own timer
        logger.exception("deferred_stage_failed", stage=periodic.stage)


DEFERRED = Deferred()  # the process's one owner, like prometheus_client's REGISTRY


def flush_all() -> None:
    """Every deferred stage of this process, now, in the declared order."""
    DEFERRED.flush_all()
