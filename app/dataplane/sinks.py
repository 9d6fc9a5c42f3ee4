"""The dataplane's own sinks: the model metrics with their exemplar, sampled prediction
events, the model call's span, and the access line's fields. Drift, the prediction memory
and the shadow are sinks too, in app/ml/quality/; the list and its order are in
app/dataplane/__init__.py.
"""

from collections import Counter as Tally

import numpy as np

from app.ml.serving.answers import Answer, ModelHooks, Sink
from app.ml.serving.runtime import ModelRuntime
from app.observability.access import exemplar_trace
from app.observability.exemplars import ExemplarHistogram
from app.observability.metrics import (
    MODEL_BATCH_SIZE,
    MODEL_INFERENCE_DURATION,
    MODEL_PREDICTION_CONFIDENCE,
    MODEL_PREDICTION_VALUE,
    MODEL_PREDICTIONS,
    exemplar_histogram,
)
from app.observability.observe import FastCounter, FastHistogram
from app.observability.prediction_events import PredictionEvents
from app.observability.tracing import Spans


class _ModelSeries:
    """One model's labelled children, resolved once: `.labels()` on every answer costs a
    dict lookup and a lock."""

    def __init__(self, runtime: ModelRuntime) -> None:
        name, version = runtime.name, runtime.version
        self.regression = runtime.task == "regression"
        self.per_class = [
            FastCounter(MODEL_PREDICTIONS.labels(name, version, label))
            for label in (runtime.class_names or [""])
        ]
        self.inference: ExemplarHistogram = exemplar_histogram(
            MODEL_INFERENCE_DURATION, model_name=name, model_version=version
        )
        self.confidence = FastHistogram(MODEL_PREDICTION_CONFIDENCE.labels(name, version))
        self.value = FastHistogram(MODEL_PREDICTION_VALUE.labels(name, version))
        self.batch = FastHistogram(MODEL_BATCH_SIZE.labels(name, version))


class ModelMetrics(Sink, ModelHooks):
    """model_predictions_total by predicted class, the top-class confidence (or the
    value) of each row, rows per call, and the call's time with the request id as its
    exemplar. A model's series are made when it starts serving, so the rules see zeros
    before its first answer (a shadow candidate never serves: it makes none)."""

    name = "metrics"

    def __init__(self) -> None:
        self._series: dict[ModelRuntime, _ModelSeries] = {}
        self._serving: tuple[ModelRuntime | None, _ModelSeries | None] = (None, None)

    def serving(self, runtime: ModelRuntime) -> None:
        self._serving = (runtime, self._of(runtime))

    def retired(self, runtime: ModelRuntime) -> None:
        self._series.pop(runtime, None)

    def record(self, answer: Answer) -> None:
        runtime, series = self._serving
        if answer.runtime is not runtime or series is None:
            series = self._of(answer.runtime)
        predictions = answer.predictions
        series.inference.observe(
            predictions.seconds, answer.request_id, exemplar_trace(answer.fields)
        )
        rows = len(answer.rows)
        series.batch.observe(rows)
        if series.regression:
            series.per_class[0].inc(rows)
            if rows == 1:  # /predict: plain calls beat NumPy's overhead on one row
                series.value.observe(predictions.values[0])
            else:
                series.value.observe_all(predictions.output)
            return
        winners = predictions.winners
        if rows == 1:
            series.per_class[winners[0]].inc()
            series.confidence.observe(predictions.probabilities[0][winners[0]])
            return
        for class_index, count in Tally(winners).items():
            series.per_class[class_index].inc(count)
        series.confidence.observe_all(predictions.output[np.arange(rows), winners])

    def _of(self, runtime: ModelRuntime) -> _ModelSeries:
        series = self._series.get(runtime)
        if series is None:
            series = self._series[runtime] = _ModelSeries(runtime)
        return series


class PredictionEventsSink(Sink):
    """A sampled `prediction` event per answer (app/observability/prediction_events.py)."""

    name = "events"

    def __init__(self, events: PredictionEvents) -> None:
        self._events = events

    def record(self, answer: Answer) -> None:
        if not self._events.sampled():
            return
        runtime = answer.runtime
        self._events.write(
            answer.request_id,
            runtime.name,
            runtime.version,
            runtime.feature_names,
            answer.rows.tolist(),
            runtime.labels(answer.predictions),
        )


class AccessFields(Sink):
    """The access line's account of the answer: the version that answered and what it
    said -- one label (or value) for a one-row request, a list for a request that gave its
    batch size (the route puts `batch_size` in the fields: /predict/batch, V2 infer)."""

    name = "access_fields"

    def record(self, answer: Answer) -> None:
        fields, runtime = answer.fields, answer.runtime
        fields["model_version"] = runtime.version
        said = runtime.labels(answer.predictions)
        batch = "batch_size" in fields
        if runtime.task == "regression":
            fields["prediction_values" if batch else "prediction_value"] = (
                said if batch else said[0]
            )
        else:
            fields["prediction_labels" if batch else "prediction_label"] = (
                said if batch else said[0]
            )


class ModelSpans(Sink):
    """With spans on, the model call's span of each sampled request (app/observability/
    tracing.py), a child of the request's server span."""

    name = "spans"

    def __init__(self, spans: Spans) -> None:
        self._spans = spans

    def record(self, answer: Answer) -> None:
        if not self._spans.sampled(answer.fields):
            return
        runtime, predictions = answer.runtime, answer.predictions
        model = {
            "name": runtime.name,
            "version": runtime.version,
            "task": runtime.task,
            "rows": len(answer.rows),
            "inference_path": runtime.inference.name,
        }
        self._spans.model(answer.fields, model, predictions.started, predictions.seconds)
