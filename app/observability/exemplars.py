"""Exemplars: from a slow latency bucket to the request that landed in it.

Every observation of http_request_duration_seconds and model_inference_duration_seconds
carries the request's id, and its W3C trace id when it has one, as an OpenMetrics exemplar,
so Grafana can open `{app="glassbox"} | request_id="…"` in Loki, or the trace in Tempo, from
a point on a latency panel. Prometheus
asks for OpenMetrics itself; the plain-text format has no exemplars.

prometheus_client keeps exemplars within one process only: its multiprocess values drop
them (`MultiProcessValue.set_exemplar` is a no-op) and `MultiProcessCollector` reads none.
So with several workers each worker keeps its latest exemplar per bucket in memory and
writes them, at most once a second and before its own /metrics renders, to
`exemplars_<pid>.json` in PROMETHEUS_MULTIPROC_DIR (atomically, by rename): the deferred
owner's "exemplars" stage (app/core/deferred.py, scheduled by app/main.py). /metrics reads
every worker's file and gives each merged bucket the newest exemplar any worker saw for it.
An exemplar can be up to a second late; it always names a request that really landed in
its bucket. Everything here runs on the worker's event loop, so nothing is locked.
"""

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from app.observability.observe import FastHistogram

LABEL = "request_id"
TRACE_LABEL = "trace_id"
# OpenMetrics caps an exemplar's label set at 128 characters, names included: a request id
# and a trace id (32) fit together up to 78 characters; past that the trace id alone is
# kept (Tempo finds the request's lines), and a longer (client-supplied) id with no trace
# gets no exemplar rather than a truncated one that finds no logs.
MAX_LABEL_CHARS = 128
MAX_ID_CHARS = MAX_LABEL_CHARS - len(LABEL)
FLUSH_INTERVAL_SECONDS = 1.0
# At most one exemplar per bucket in this interval: Prometheus keeps one per scrape, so the
# thousands a busy bucket would get per second are wasted work (measured at 2-3 % of
# /predict). A rare slow request lands in a quiet bucket and is always kept.
MIN_EXEMPLAR_INTERVAL_SECONDS = 0.1
FILE_GLOB = "exemplars_*.json"

# One worker's exemplars: (bucket sample name, sorted label pairs) -> (labels, value, time)
_Key = tuple[str, tuple[tuple[str, str], ...]]


def exemplar_labels(request_id: str | None, trace_id: str | None) -> dict[str, str] | None:
    """The exemplar's labels: both ids when they fit OpenMetrics' 128 characters."""
    if trace_id is not None:
        if request_id is not None and (
            len(LABEL) + len(request_id) + len(TRACE_LABEL) + len(trace_id) <= MAX_LABEL_CHARS
        ):
            return {LABEL: request_id, TRACE_LABEL: trace_id}
        return {TRACE_LABEL: trace_id}
    if request_id is None or len(request_id) > MAX_ID_CHARS:
        return None
    return {LABEL: request_id}


class WorkerExemplars:
    """This worker's newest exemplar per histogram bucket, written to the shared directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._latest: dict[_Key, tuple[dict[str, str], float, float]] = {}
        self._dirty = False

    def record(self, key: _Key, labels: dict[str, str], value: float) -> None:
        self._latest[key] = (labels, value, time.time())
        self._dirty = True

    def flush(self) -> None:
        """This worker's file, when it has new exemplars."""
        if not self._dirty:
            return
        snapshot = list(self._latest.items())
        self._dirty = False
        entries = [
            {"name": name, "labels": dict(labels), "exemplar": ids, "value": value, "time": at}
            for (name, labels), (ids, value, at) in snapshot
        ]
        pid = os.getpid()  # looked up here: the store may be created before a fork
        staging = self.directory / f".exemplars_{pid}.json.tmp"  # outside FILE_GLOB
        staging.write_text(json.dumps(entries))
        os.replace(staging, self.directory / f"exemplars_{pid}.json")


class ExemplarHistogram:
    """One labelled histogram child whose observations carry the request id as exemplar."""

    __slots__ = ("_histogram", "_keys", "_last", "_worker")

    def __init__(
        self,
        histogram: Histogram,
        labels: dict[str, str],
        worker: WorkerExemplars | None,
    ) -> None:
        child = histogram.labels(**labels)
        self._histogram = FastHistogram(child)
        self._worker = worker
        bounds = child._upper_bounds
        self._last = [float("-inf")] * len(bounds)  # when each bucket last got one
        (family,) = list(histogram.describe())
        name = f"{family.name}_bucket"
        self._keys = [
            (name, tuple(sorted({**labels, "le": _le(bound)}.items()))) for bound in bounds
        ]

    def observe(self, value: float, request_id: str | None, trace_id: str | None = None) -> None:
        bucket = self._histogram.observe(value)
        if bucket < 0 or (request_id is None and trace_id is None):
            return
        now = time.monotonic()
        if now - self._last[bucket] < MIN_EXEMPLAR_INTERVAL_SECONDS:
            return
        labels = exemplar_labels(request_id, trace_id)
        if labels is None:
            return
        self._last[bucket] = now
        if self._worker is None:  # one process: prometheus_client keeps the exemplar
            exemplar = Exemplar(labels, value, time.time())
            self._histogram.bucket_value(bucket).set_exemplar(exemplar)
        else:
            self._worker.record(self._keys[bucket], labels, value)


def _le(bound: float) -> str:
    """The `le` label exactly as prometheus_client writes it into the shared files."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def newest_exemplars(directory: Path) -> dict[_Key, Exemplar]:
    """The newest exemplar of each bucket across every worker's file."""
    newest: dict[_Key, Exemplar] = {}
    for path in directory.glob(FILE_GLOB):
        try:
            entries = json.loads(path.read_bytes())
        except (OSError, ValueError):  # a worker replacing its file: take the next scrape's
            continue
        for entry in entries:
            key = (entry["name"], tuple(sorted(entry["labels"].items())))
            seen = newest.get(key)
            if seen is None or (seen.timestamp or 0.0) < entry["time"]:
                newest[key] = Exemplar(entry["exemplar"], entry["value"], entry["time"])
    return newest


def with_exemplars(metrics: Iterable[Metric], directory: Path) -> Iterator[Metric]:
    """MultiProcessCollector's merged metrics, each bucket given its newest exemplar."""
    newest = newest_exemplars(directory)
    for metric in metrics:
        if metric.type == "histogram" and newest:
            metric.samples = [
                sample._replace(
                    exemplar=newest.get((sample.name, tuple(sorted(sample.labels.items()))))
                )
                for sample in metric.samples
            ]
        yield metric
