"""What this worker predicted, by request id, so ground truth sent later can find it.

No database: an in-memory ring per worker, FEEDBACK_MEMORY_ROWS predicted rows deep
(oldest forgotten first, counted in model_prediction_memory_evicted_total when no label
had reached them). Each entry keeps the version that answered and its class names, so a
label arriving after a hot swap still credits the model that made the prediction, and the
shadow candidate's answer once it has scored the request (app/ml/quality/shadow.py). It is
one of the dataplane's sinks: every answer is remembered in the deferred pass after its
response, before any later request (a label for it) is read (app/core/deferred.py). A restart
forgets everything, and with several workers or replicas a label reaches the one that
predicted only by chance: both show up as `unknown` feedback, and the coverage panel says
how much of the traffic got labels (docs/quality.md). The default store; the shared one is
app/ml/quality/redis_store.py (PREDICTION_STORE_URL), behind the same interface
(app/ml/quality/store.py).

Entries are plain tuples of strings and numbers, not objects, on purpose: the garbage
collector stops tracking an exact tuple that holds only such atoms, so the remembered
predictions cost its full collections nothing. As dataclass instances (three tracked
objects per request) they made those pauses the p99: with a shadow on, /predict's p99 at
64 connections read 1.7-2.4x shadow-off, and 0.99x with the memory off (`make bench`'s
shadow section, 2026-12-02). About 390 bytes per single-row request, its id included
(tracemalloc, 100,000 Iris predictions): the default 50,000 rows hold about 20 MB per
worker, at 100 requests/s about 8 minutes of traffic; size FEEDBACK_MEMORY_ROWS to how
late the labels come.
"""

from collections import OrderedDict
from time import time
from typing import Any

from app.ml.quality.store import PredictionStore, Said, Stored, said_in
from app.ml.serving.answers import Answer
from app.observability.metrics import MODEL_PREDICTION_MEMORY_EVICTED, MODEL_PREDICTION_MEMORY_ROWS

# What is stored: (model key, outputs, time.time() of the prediction), the model key
# indexing this memory's table of (name, version, classes). Only ints, floats and a tuple of
# them, so the collector untracks every entry: one that pointed at the model's classes
# tuple (frozen with the model at startup, so tracked for good) stayed tracked, 50,000 of
# them, and cost each request 0.5 µs more as the memory filled (timeit).
Remembered = tuple[int, tuple[Any, ...], float]


class PredictionMemory(PredictionStore):
    """The last `capacity` predicted rows, by request id; used from the event loop only."""

    name = "memory"

    def describe(self) -> str:
        return "memory"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Remembered] = OrderedDict()
        self._shadow: dict[str, tuple[int, tuple[Any, ...]]] = {}
        self._labelled: dict[str, tuple[int, ...]] = {}
        self._models: list[tuple[str, str, tuple[str, ...]]] = []
        self._keys: dict[tuple[str, str], int] = {}
        self._rows = 0
        self._evicted = 0  # unlabelled rows forgotten since the last publish()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _key(self, model_name: str, model_version: str, classes: tuple[str, ...]) -> int:
        key = self._keys.get((model_name, model_version))
        if key is None:
            key = self._keys[(model_name, model_version)] = len(self._models)
            self._models.append((model_name, model_version, classes))
        return key

    def record(self, answer: Answer) -> None:
        self.remember(answer.request_id, said_in(answer))

    def remember(self, request_id: str, served: Said) -> Remembered:
        """Keep `served` under `request_id` (a reused id replaces the older prediction).
        On every prediction: one dict pop and one insert, and the oldest out when full."""
        outputs = served[3]
        entry = (self._key(served[0], served[1], served[2]), outputs, time())
        entries = self._entries
        old = entries.pop(request_id, None)
        if old is not None:
            self._drop(request_id, old)
        entries[request_id] = entry
        self._rows += len(outputs)
        while self._rows > self.capacity:
            self._forget(next(iter(entries)))
        return entry

    def publish(self) -> None:
        """The memory's gauge and eviction counter, before /metrics renders: set per request
        (a full memory evicts on every one) they cost a lock each, a third of remembering."""
        MODEL_PREDICTION_MEMORY_ROWS.set(self._rows)
        if self._evicted:
            MODEL_PREDICTION_MEMORY_EVICTED.inc(self._evicted)
            self._evicted = 0

    async def find(self, request_id: str) -> Stored | None:
        entry = self._entries.get(request_id)
        if entry is None:
            return None
        labelled = frozenset(self._labelled.get(request_id, ()))
        return Stored(self.said_of(entry), entry[2], self.shadow_of(request_id), labelled)

    async def claim(self, request_id: str, row: int) -> bool:
        if row in self._labelled.get(request_id, ()):
            return False
        self._labelled[request_id] = (*self._labelled.get(request_id, ()), row)
        return True

    def shadow_ref(self, request_id: str) -> Remembered | None:
        return self._entries.get(request_id)

    def said_of(self, entry: Remembered) -> Said:
        """The served model's answer that `entry` keeps."""
        return (*self._models[entry[0]], entry[1])

    def add_shadow(self, request_id: str, ref: Any, shadow: Said) -> None:
        """The shadow's answer to the prediction `ref` (not to a later one that reused the
        id, nor to one forgotten since)."""
        if ref is not None and self._entries.get(request_id) is ref:
            self._shadow[request_id] = (self._key(shadow[0], shadow[1], shadow[2]), shadow[3])

    def shadow_of(self, request_id: str) -> Said | None:
        found = self._shadow.get(request_id)
        return None if found is None else (*self._models[found[0]], found[1])

    def _forget(self, request_id: str) -> None:
        self._drop(request_id, self._entries.pop(request_id))

    def _drop(self, request_id: str, entry: Remembered) -> None:
        rows = len(entry[1])
        self._shadow.pop(request_id, None)
        self._evicted += rows - len(self._labelled.pop(request_id, ()))
        self._rows -= rows
