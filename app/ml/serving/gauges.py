"""The gauges that say which model serves: set on the registry's hooks, never on a request.

model_loaded (1 once a model serves, 0 when the startup load failed), model_info (1 while
a version serves, 0 once swapped out), the training data's class priors, the held-out
metrics stored in the artifact (model_training_metric, role primary or shadow: what live
quality is held against) and model_shadow_loaded.
"""

from prometheus_client import Gauge

from app.ml.serving.answers import ModelHooks
from app.ml.serving.runtime import ModelRuntime
from app.observability.metrics import (
    MODEL_CLASS_PRIOR,
    MODEL_INFO,
    MODEL_LOADED,
    MODEL_SHADOW_LOADED,
    MODEL_TRAINING_METRIC,
)

# The artifact's held-out metrics published as model_training_metric.
TRAINING_METRICS = ("accuracy", "f1_macro", "r2", "rmse", "mae")
# The estimate's own held-out error, by the kind of estimate: an accuracy's is absolute
# (points), an MAE's relative to the true MAE.
ESTIMATE_ERROR_METRICS = {"cbpe": "estimated_accuracy_error", "dle": "estimated_mae_error"}


class ModelGauges(ModelHooks):
    def serving(self, runtime: ModelRuntime) -> None:
        _model_info(runtime).set(1)
        for label, prior in runtime.metadata.get("class_priors", {}).items():
            MODEL_CLASS_PRIOR.labels(runtime.name, runtime.version, label).set(prior)
        _publish_training_metrics(runtime, "primary")
        MODEL_LOADED.set(1)

    def retired(self, runtime: ModelRuntime) -> None:
        _model_info(runtime).set(0)

    def shadowing(self, candidate: ModelRuntime | None) -> None:
        MODEL_SHADOW_LOADED.set(1 if candidate else 0)
        if candidate is not None:
            _publish_training_metrics(candidate, "shadow")

    def unavailable(self, reason: str) -> None:  # noqa: ARG002 (the gauge has no reason)
        MODEL_LOADED.set(0)


def _model_info(runtime: ModelRuntime) -> Gauge:
    """The model_info child naming this runtime: 1 while it serves, 0 once retired."""
    return MODEL_INFO.labels(
        runtime.name,
        runtime.version,
        runtime.sklearn_version,
        runtime.inference_path,
        runtime.task,
        runtime.registry.get("run_id", ""),
    )


def _publish_training_metrics(runtime: ModelRuntime, role: str) -> None:
    for metric, value in runtime.metadata.get("metrics", {}).items():
        if metric in TRAINING_METRICS and isinstance(value, int | float):
            MODEL_TRAINING_METRIC.labels(runtime.name, runtime.version, role, metric).set(value)
    # How far the estimate was from the truth on held-out rows it did not see: live quality
    # further than this from the estimate is more than the estimate's error.
    estimation = runtime.metadata.get("estimation", {})
    error = estimation.get("held_out", {}).get("estimate_error")
    metric = ESTIMATE_ERROR_METRICS.get(estimation.get("kind"))
    if metric is not None and isinstance(error, int | float):
        MODEL_TRAINING_METRIC.labels(runtime.name, runtime.version, role, metric).set(error)
