"""What this worker predicted, by request id, so ground truth sent later can find it.

No database: an in-memory ring per worker, FEEDBACK_MEMORY_ROWS predicted rows deep
(oldest forgotten first, counted in model_prediction_memory_evicted_total when no label
had reached them). Each entry keeps the version that answered and its class names, so a
label arriving after a hot swap still credits the model that made the prediction, and the
shadow candidate's answer once it has scored the request (app/ml/shadow.py). A restart
forgets everything, and with several workers or replicas a label reaches the one that
predicted only by chance: both show up as `unknown` feedback, and the coverage panel says
how much of the traffic got labels (docs/quality.md).

The entries are plain lists of class indices or values: about 390 bytes per single-row
request, its id included (tracemalloc, 100,000 Iris predictions), so the default 50,000
rows hold about 20 MB per worker; at 100 requests/s that is about 8 minutes of traffic,
so size FEEDBACK_MEMORY_ROWS to how late the labels come.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass

from app.observability.metrics import MODEL_PREDICTION_MEMORY_EVICTED, MODEL_PREDICTION_MEMORY_ROWS


@dataclass(slots=True)
class Answer:
    """One model's answer to every row of a request: class indices into `classes`, or a
    regressor's values (`classes` empty)."""

    model_name: str
    model_version: str
    classes: tuple[str, ...]
    outputs: list[int] | list[float]

    def label_of(self, row: int) -> str | float:
        output = self.outputs[row]
        return self.classes[int(output)] if self.classes else float(output)


@dataclass(slots=True)
class Remembered:
    primary: Answer
    at: float  # time.monotonic() of the prediction
    shadow: Answer | None = None  # set by the shadow's thread once it has scored the rows
    labelled: set[int] | None = None  # rows that got their label (made on the first)

    @property
    def rows(self) -> int:
        return len(self.primary.outputs)


class PredictionMemory:
    """The last `capacity` predicted rows, by request id. Used from the event loop only
    (the shadow's thread sets `Remembered.shadow`, one attribute assignment)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Remembered] = OrderedDict()
        self._rows = 0

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def remember(self, request_id: str, answer: Answer) -> Remembered:
        """Keep `answer` under `request_id` (a reused id replaces the older prediction)."""
        entry = Remembered(answer, time.monotonic())
        old = self._entries.pop(request_id, None)
        if old is not None:
            self._forget(old)
        self._entries[request_id] = entry
        self._rows += entry.rows
        while self._rows > self.capacity and self._entries:
            _, oldest = self._entries.popitem(last=False)
            self._forget(oldest)
        MODEL_PREDICTION_MEMORY_ROWS.set(self._rows)
        return entry

    def find(self, request_id: str) -> Remembered | None:
        return self._entries.get(request_id)

    def _forget(self, entry: Remembered) -> None:
        self._rows -= entry.rows
        unlabelled = entry.rows - len(entry.labelled or ())
        if unlabelled:
            MODEL_PREDICTION_MEMORY_EVICTED.inc(unlabelled)
