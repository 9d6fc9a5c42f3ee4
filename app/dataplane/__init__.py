"""The dataplane and what it does with every answer, assembled from Settings.

`build_dataplane` is the one place that says which sinks an answer reaches and in what
order, which of them hear of model changes, and which run on a timer: a new signal is one
more entry here and nothing else (no route changes).
"""

from app.core.config import Settings
from app.dataplane.dataplane import DataPlane, ModelNotFoundError, ModelNotReadyError, Stage
from app.dataplane.policy import OutsideTrainingError, Refusal
from app.dataplane.sinks import AccessFields, ModelMetrics, ModelSpans, PredictionEventsSink
from app.ml.quality.drift import FLUSH_INTERVAL_SECONDS, FeatureDrift
from app.ml.quality.estimation import FLUSH_INTERVAL_SECONDS as ESTIMATES_INTERVAL_SECONDS
from app.ml.quality.estimation import EstimatedQuality
from app.ml.quality.feedback import QualityBook
from app.ml.quality.memory import PredictionMemory
from app.ml.quality.shadow import DRAIN_SECONDS, ShadowScorer
from app.ml.quality.store import PredictionStore
from app.ml.serving.answers import Sink
from app.ml.serving.gauges import ModelGauges
from app.ml.serving.registry import ModelRegistry
from app.observability.prediction_events import PredictionEvents
from app.observability.tracing import Spans

__all__ = [
    "DataPlane",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "OutsideTrainingError",
    "Refusal",
    "build_dataplane",
]


def prediction_store(settings: Settings) -> PredictionStore:
    """Where answers wait for their labels: the shared store, or this worker's memory."""
    if settings.PREDICTION_STORE_URL:
        from app.ml.quality.redis_store import RedisStore  # only with a store: its client

        return RedisStore(
            settings.PREDICTION_STORE_URL,
            settings.PREDICTION_STORE_PASSWORD.get_secret_value(),
            settings.FEEDBACK_MAX_AGE_SECONDS,
        )
    return PredictionMemory(settings.FEEDBACK_MEMORY_ROWS)


def build_dataplane(
    settings: Settings, registry: ModelRegistry, spans: Spans | None = None
) -> DataPlane:
    store = prediction_store(settings)
    metrics = ModelMetrics()
    estimation = EstimatedQuality()
    drift = FeatureDrift()
    shadow = ShadowScorer(settings.SHADOW_QUEUE_SIZE, store if store.enabled else None)
    events = PredictionEvents(settings.PREDICTION_LOG_SAMPLE, settings.PREDICTION_LOG_REDACT)

    # Every answer, in this order, after its response:
    sinks: list[Sink] = []
    if spans is not None:
        sinks.append(ModelSpans(spans))  # the model call's span (first: the sampler decides)
    sinks += [
        metrics,  # model_* counters and histograms, the request and trace ids as exemplar
        estimation,  # calibrated confidence: estimated quality before any label
        drift,  # its rows kept for the training-decile counts
    ]
    if store.enabled:
        sinks.append(store)  # kept by request id, for /feedback
    if settings.SHADOW_MODEL_DIR is not None:
        sinks.append(shadow)  # queued for the candidate (after the store: it adds to it)
    if events.sample:
        sinks.append(PredictionEventsSink(events))  # a sampled `prediction` event
    sinks.append(AccessFields())  # the access line's version and outputs

    # Told of every load, swap and retirement, in this order:
    registry.hooks.extend([ModelGauges(), metrics, estimation, drift, shadow])

    # Run while the app serves, on a timer (None: only in every flush_all):
    stages: list[Stage] = [
        ("drift", FLUSH_INTERVAL_SECONDS, drift.flush),
        ("estimates", ESTIMATES_INTERVAL_SECONDS, estimation.flush),
    ]
    if settings.SHADOW_MODEL_DIR is not None:
        stages.append(("shadow", DRAIN_SECONDS, shadow.drain))
    stages.append(("gauges", None, store.publish))
    if spans is not None:
        stages.append(("gauges", None, spans.publish))  # the SDK's span counts

    return DataPlane(
        registry,
        sinks,
        refuse_outside_training=settings.OUT_OF_RANGE == "refuse",
        feedback=QualityBook(store, settings.FEEDBACK_MAX_AGE_SECONDS),
        stages=stages,
    )
