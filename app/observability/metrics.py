"""The metric contract that dashboards, alerts and the chart are built on.

Names and labels here are public API: renaming one breaks every panel and rule
in monitoring/ and dashboards/. In multiprocess mode (WEB_CONCURRENCY > 1,
PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported) every
worker writes to shared files and /metrics aggregates them.
"""

import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from app.observability.exemplars import ExemplarHistogram, WorkerExemplars, with_exemplars
from app.observability.observe import FastCounter

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
# A regressor's output can be on any scale: 1-2.5-5 steps from 0.01 to 5e5, so one histogram
# fits prices, counts and scores alike (the mean from _sum/_count is exact; a quantile is
# good to within its step). Negative values all fall in le="0": a histogram with negative
# bounds loses its _sum in the OpenMetrics format Prometheus scrapes.
PREDICTION_VALUE_BUCKETS = (0.0, *(m * 10.0**e for e in range(-2, 6) for m in (1.0, 2.5, 5.0)))

MODEL_PREDICTIONS = Counter(
    "model_predictions_total",
    "Predicted rows, by predicted class: one increment per row, single or batch "
    '(a regressor\'s rows count under predicted_class="").',
    [*MODEL_LABELS, "predicted_class"],
)
MODEL_INFERENCE_DURATION = Histogram(
    "model_inference_duration_seconds",
    "Wall time of the model call alone (predict_proba, or predict for a regressor), "
    "excluding HTTP and validation.",
    MODEL_LABELS,
    buckets=INFERENCE_LATENCY_BUCKETS,
)
MODEL_PREDICTION_CONFIDENCE = Histogram(
    "model_prediction_confidence",
    "Probability of the predicted (top) class, one observation per row.",
    MODEL_LABELS,
    buckets=CONFIDENCE_BUCKETS,
)
MODEL_PREDICTION_VALUE = Histogram(
    "model_prediction_value",
    "A regressor's predicted value, one observation per row (classifiers: no samples).",
    MODEL_LABELS,
    buckets=PREDICTION_VALUE_BUCKETS,
)
MODEL_BATCH_SIZE = Histogram(
    "model_batch_size",
    "Rows per model call: 1 for /predict, len(instances) for /predict/batch.",
    MODEL_LABELS,
    buckets=BATCH_SIZE_BUCKETS,
)
MODEL_FEATURE_VALUES = Counter(
    "model_feature_values_total",
    "Input values per feature, by bucket between the training split's deciles (bucket 0: up "
    "to the first decile, the last: above the last); the drift rules compare the shares "
    "with model_feature_expected_share.",
    [*MODEL_LABELS, "feature", "bucket"],
)
MODEL_FEATURE_OUT_OF_RANGE = Counter(
    "model_feature_out_of_range_total",
    "Input values below (side=below) or above (side=above) the training data's range, "
    "and categories training never saw (side=unseen).",
    [*MODEL_LABELS, "feature", "side"],
)
MODEL_FEATURE_EXPECTED_SHARE = Gauge(
    "model_feature_expected_share",
    "Share of the training split's values in each decile bucket, from metadata.json: the "
    "baseline for feature drift.",
    [*MODEL_LABELS, "feature", "bucket"],
    multiprocess_mode="livemax",
)
MODEL_INFO = Gauge(
    "model_info",
    "1 while served, 0 once swapped out; labels identify the model version each worker "
    "serves, its task (classification, regression) and the code computing it "
    "(inference_path: onnxruntime, or sklearn when the export was refused); run_id: the "
    "MLflow run of a model served from a registry (MODEL_URI), empty otherwise.",
    [*MODEL_LABELS, "sklearn_version", "inference_path", "task", "run_id"],
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

# Live quality (app/ml/quality/feedback.py): ground truth sent to /feedback, joined to the
# prediction it names. role: "primary" (the version that answered) or "shadow" (the
# candidate scored beside it, app/ml/quality/shadow.py); model_version is the version that
# made the prediction.
QUALITY_LABELS = (*MODEL_LABELS, "role")
# Estimated quality (app/ml/quality/estimation.py): before any label, from the model's
# confidence calibrated at training (CBPE), or a regressor's loss model (DLE). Over the
# rows estimated, the estimated accuracy (by class: precision and recall) or MAE.
MODEL_ESTIMATED_ROWS = Counter(
    "model_estimated_rows",
    "Rows whose quality was estimated: every row a model with an estimate answered (role "
    '"primary") or its shadow candidate scored (role "shadow").',
    QUALITY_LABELS,
)
MODEL_ESTIMATED_ABSOLUTE_ERROR = Counter(
    "model_estimated_absolute_error",
    "A regressor's expected absolute error of the rows answered: its loss model's "
    "prediction for each row (no labels needed); over model_estimated_rows_total, the "
    "estimated MAE.",
    QUALITY_LABELS,
)
MODEL_ESTIMATED_CORRECT = Counter(
    "model_estimated_correct",
    "Expected number of right answers among the rows answered: the calibrated probability "
    "that each row's served class is right, summed (no labels needed).",
    QUALITY_LABELS,
)
MODEL_ESTIMATED_CONFUSION = Counter(
    "model_estimated_confusion",
    "Expected confusion of the rows answered: for each row, the calibrated probability of "
    "each actual class added to (predicted_class, actual_class; correct: whether they are "
    "the same, as model_feedback_confusion_total); models of up to 20 "
    "classes (app/ml/quality/estimation.py).",
    [*QUALITY_LABELS, "predicted_class", "actual_class", "correct"],
)
MODEL_FEEDBACK = Counter(
    "model_feedback_total",
    "Ground-truth labels received, by outcome: recorded (joined to its prediction), unknown "
    "(no such request id in the prediction store: never seen, evicted, expired, or another "
    "worker's when each keeps its own), "
    "duplicate (that row already had one), late (older than FEEDBACK_MAX_AGE_SECONDS). "
    "Unknown feedback has empty model labels.",
    [*MODEL_LABELS, "status"],
)
MODEL_FEEDBACK_CONFUSION = Counter(
    "model_feedback_confusion_total",
    "A classifier's labelled predictions, by true (actual_class) and predicted class; "
    'correct="true" on the diagonal, so accuracy, precision and recall are ratios of sums.',
    [*QUALITY_LABELS, "actual_class", "predicted_class", "correct"],
)
MODEL_FEEDBACK_ABSOLUTE_ERROR = Histogram(
    "model_feedback_absolute_error",
    "A regressor's |prediction - true value| per labelled prediction: _sum/_count is the live MAE.",
    QUALITY_LABELS,
    buckets=PREDICTION_VALUE_BUCKETS,
)
MODEL_FEEDBACK_SQUARED_ERROR = Counter(
    "model_feedback_squared_error_total",
    "A regressor's summed (prediction - true value)^2: over the absolute error's _count, the "
    "live MSE (its square root the RMSE).",
    QUALITY_LABELS,
)
MODEL_TRAINING_METRIC = Gauge(
    "model_training_metric",
    "The held-out metric stored in the artifact (accuracy, f1_macro, r2, rmse, mae): what "
    "live quality is compared with; estimated_accuracy_error: how far the estimated "
    "accuracy was from the truth on held-out rows (points), estimated_mae_error: how far "
    "the estimated MAE was (relative to the true MAE).",
    [*QUALITY_LABELS, "metric"],
    multiprocess_mode="livemax",
)
MODEL_PREDICTION_MEMORY_ROWS = Gauge(
    "model_prediction_memory_rows",
    "Predicted rows this worker remembers for feedback (at most FEEDBACK_MEMORY_ROWS).",
    multiprocess_mode="livesum",
)
MODEL_PREDICTION_MEMORY_EVICTED = Counter(
    "model_prediction_memory_evicted_total",
    "Predicted rows forgotten to make room before any feedback named them: feedback for "
    "them would be `unknown`.",
)
MODEL_PREDICTION_STORE_ROWS_WRITTEN = Counter(
    "model_prediction_store_rows_written_total",
    "Predicted rows written to the shared prediction store (PREDICTION_STORE_URL).",
)
MODEL_PREDICTION_STORE_ROWS_DROPPED = Counter(
    "model_prediction_store_rows_dropped_total",
    "Predicted rows not written to the shared prediction store: it was down, slow, or the "
    "bounded queue to it was full. Labels for them come back `unknown`.",
)
MODEL_PREDICTION_STORE_LOOKUPS_FAILED = Counter(
    "model_prediction_store_lookups_failed_total",
    "Labels the shared prediction store could not be asked about (answered 503 "
    "prediction_store_unavailable).",
)
MODEL_SHADOW_ROWS = Counter(
    "model_shadow_rows_total",
    "Rows the shadow candidate scored, by whether it agreed with the served model "
    "(classifier: same class; regressor: within 5 % of its value).",
    [*MODEL_LABELS, "primary_version", "agreement"],
)
MODEL_SHADOW_DROPPED = Counter(
    "model_shadow_dropped_total",
    "Rows the shadow did not score because its queue was full (SHADOW_QUEUE_ROWS): the "
    "served model is never slowed to wait for it.",
    MODEL_LABELS,
)
MODEL_SHADOW_INFERENCE_DURATION = Histogram(
    "model_shadow_inference_duration_seconds",
    "Wall time of one shadow model call (one call scores every queued row at once).",
    MODEL_LABELS,
    buckets=INFERENCE_LATENCY_BUCKETS,
)
MODEL_SHADOW_LOADED = Gauge(
    "model_shadow_loaded",
    "1 while a shadow candidate (SHADOW_MODEL_DIR) is loaded and scoring, else 0.",
    multiprocess_mode="livemin",
)


HTTP_REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by route template (handler), method and exact status code.",
    ["handler", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the app to the response being sent, by route template.",
    ["handler", "method"],
    buckets=HTTP_LATENCY_BUCKETS,
)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


# This worker's exemplars when workers share metrics files; None in one process, where
# prometheus_client keeps them itself (app/observability/exemplars.py).
WORKER_EXEMPLARS = (
    WorkerExemplars(Path(os.environ[MULTIPROC_ENV])) if multiprocess_enabled() else None
)


def exemplar_histogram(histogram: Histogram, **labels: str) -> ExemplarHistogram:
    return ExemplarHistogram(histogram, labels, WORKER_EXEMPLARS)


class HttpMetrics:
    """http_requests_total and http_request_duration_seconds, one sample per request.

    Nothing is excluded (each request counts exactly once, /metrics included); paths that
    match no route share the handler value "none", so scanners cannot explode label
    cardinality; status codes stay exact (404 vs 422). Labelled children are cached: the
    label sets are bounded by routes x methods x statuses, and `.labels()` costs a lock.
    """

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], FastCounter] = {}
        self._histograms: dict[tuple[str, str], ExemplarHistogram] = {}

    def observe(
        self, method: str, handler: str, status: int, duration_s: float, request_id: str | None,
        trace_id: str | None = None,
    ) -> None:  # fmt: skip
        counter = self._counters.get((handler, method, status))
        if counter is None:
            counter = FastCounter(HTTP_REQUESTS.labels(handler, method, str(status)))
            self._counters[(handler, method, status)] = counter
        counter.inc()
        histogram = self._histograms.get((handler, method))
        if histogram is None:
            histogram = exemplar_histogram(HTTP_REQUEST_DURATION, handler=handler, method=method)
            self._histograms[(handler, method)] = histogram
        histogram.observe(duration_s, request_id, trace_id)


class _WorkersCollector:
    """Every worker's samples merged from the shared files, with their exemplars."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        merged = multiprocess.MultiProcessCollector(None).collect()  # type: ignore[no-untyped-call]
        return with_exemplars(merged, self.directory)


def render_latest(accept: str = "") -> tuple[bytes, str]:
    """The exposition in the format the scraper asks for (OpenMetrics carries exemplars),
    every worker's samples merged in multiprocess mode."""
    encode, content_type = choose_encoder(accept)
    if multiprocess_enabled():
        registry = CollectorRegistry()
        registry.register(_WorkersCollector(Path(os.environ[MULTIPROC_ENV])))
        return encode(registry), content_type
    return encode(REGISTRY), content_type


def mark_worker_dead(pid: int) -> None:
    """Drop a stopped worker's live gauges so model_loaded reflects live workers only."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
