"""The metric contract that dashboards, alerts and the chart are built on.

Names and labels here are public API: renaming one breaks every panel and rule
in monitoring/ and dashboards/. In multiprocess mode (WEB_CONCURRENCY > 1,
PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported) every
worker writes to shared files and /metrics aggregates them.
"""

import os

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_fastapi_instrumentator import Instrumentator, metrics

# `*_created` timestamps double the series count and no panel or rule reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MODEL_LABELS = ("model_name", "model_version")

# Sub-millisecond to seconds: a scikit-learn call is ~0.1 ms for one row.
HTTP_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
INFERENCE_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
CONFIDENCE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

MODEL_PREDICTIONS = Counter(
    "model_predictions_total",
    "Predicted rows, by predicted class: one increment per row, single or batch.",
    [*MODEL_LABELS, "predicted_class"],
)
MODEL_INFERENCE_DURATION = Histogram(
    "model_inference_duration_seconds",
    "Wall time of the model call alone (predict_proba), excluding HTTP and validation.",
    MODEL_LABELS,
    buckets=INFERENCE_LATENCY_BUCKETS,
)
MODEL_PREDICTION_CONFIDENCE = Histogram(
    "model_prediction_confidence",
    "Probability of the predicted (top) class, one observation per row.",
    MODEL_LABELS,
    buckets=CONFIDENCE_BUCKETS,
)
MODEL_BATCH_SIZE = Histogram(
    "model_batch_size",
    "Rows per model call: 1 for /predict, len(instances) for /predict/batch.",
    MODEL_LABELS,
    buckets=BATCH_SIZE_BUCKETS,
)
MODEL_INFO = Gauge(
    "model_info",
    "Always 1; labels identify the model version each worker serves.",
    [*MODEL_LABELS, "sklearn_version"],
    multiprocess_mode="livemax",
)
MODEL_CLASS_PRIOR = Gauge(
    "model_class_prior",
    "Share of each class in the training data, from metadata.json: the baseline for drift.",
    [*MODEL_LABELS, "class"],
    multiprocess_mode="livemax",
)
# livemin: if any live worker failed to load, the pod reports 0.
MODEL_LOADED = Gauge(
    "model_loaded",
    "1 when the model is loaded and the service ready to predict, else 0.",
    multiprocess_mode="livemin",
)


def instrument_http(app: FastAPI) -> None:
    """Add http_requests_total and http_request_duration_seconds for every request.

    Nothing is excluded (each request counts exactly once, /metrics included);
    paths that match no route share the handler value "none", so scanners
    cannot explode label cardinality; status codes stay exact (404 vs 422).
    """
    instrumentator = Instrumentator(
        should_group_status_codes=False,
        should_group_untemplated=True,
        excluded_handlers=[],
    )
    instrumentator.add(metrics.requests())
    instrumentator.add(metrics.latency(should_include_status=False, buckets=HTTP_LATENCY_BUCKETS))
    instrumentator.instrument(app)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render_latest() -> tuple[bytes, str]:
    """The exposition text: every worker's samples merged in multiprocess mode."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_dead(pid: int) -> None:
    """Drop a stopped worker's live gauges so model_loaded reflects live workers only."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
