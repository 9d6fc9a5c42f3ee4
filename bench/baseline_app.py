"""The baselines for `make bench`: the same model and request schema behind bare FastAPI
routes, with no middleware, metrics, request ids or logging -- what a user would otherwise
write. BASELINE_MODEL picks the model call:

- `sklearn`: the model's own `predict_proba`, as a hand-written endpoint would call it;
- `glassbox`: the inference path Glassbox chose at load (app/ml/inference.py), so the
  difference between this baseline and Glassbox is the cost of observability alone;
- `numpy`: the default pipeline's arithmetic written out in NumPy, the floor for the
  model call (bench only; Glassbox itself serves through a library, never this).

Each baseline times its model calls the way Glassbox's model_inference_duration_seconds
does and reports them at GET /model-call, so the floor is measured in situ too.

The request body is hand-written for Iris (`IrisFeatures`, as the Iris-only API had it, so
the bench compares Glassbox's generated body with it in one run) and, for any other model,
the plain model a user would write: one strict float per input.
"""

import os
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from app.ml.artifact import load_artifact
from app.ml.inference import InferencePath, SklearnPath, choose_path

# Strict: "5.1" or true are rejected rather than coerced; NaN/Infinity are refused.
Centimetres = Annotated[
    float,
    Field(gt=0, le=100, strict=True, allow_inf_nan=False, description="Centimetres, 0 < x ≤ 100."),
]


_StrictFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class IrisFeatures(BaseModel):
    """One flower, written by hand: the Iris-only API's request body."""

    model_config = ConfigDict(extra="forbid")

    sepal_length: Centimetres
    sepal_width: Centimetres
    petal_length: Centimetres
    petal_width: Centimetres


Rows = npt.NDArray[np.float64]


class NumpyFloor:
    """StandardScaler then multinomial LogisticRegression, by hand."""

    name = "numpy"

    def __init__(self, pipeline: Any) -> None:
        scaler, classifier = pipeline[0], pipeline[-1]
        self.mean, self.scale = scaler.mean_, scaler.scale_
        self.weights, self.bias = classifier.coef_.T.copy(), classifier.intercept_

    def run(self, rows: Rows) -> Rows:
        z = ((rows - self.mean) / self.scale) @ self.weights + self.bias
        e = np.exp(z - z.max(axis=1, keepdims=True))
        result: Rows = e / e.sum(axis=1, keepdims=True)
        return result


def _inference(kind: str, artifact: Any) -> InferencePath | NumpyFloor:
    contract = artifact.contract
    if kind == "glassbox":
        return choose_path(artifact.model, contract, artifact.onnx_model, artifact.reference_rows)[
            0
        ]
    if kind == "numpy":
        return NumpyFloor(artifact.model)
    return SklearnPath(artifact.model, contract)


artifact = load_artifact(Path(os.environ.get("MODEL_DIR", "artifacts/latest")))
inference = _inference(os.environ.get("BASELINE_MODEL", "sklearn"), artifact)
features = list(artifact.metadata["feature_names"])
classes = list(artifact.metadata["class_names"])
model_call = {"seconds": 0.0, "calls": 0}
app = FastAPI()
if os.environ.get("BASELINE_OTEL"):
    # The generic way peers trace: opentelemetry-instrumentation-asgi around the app, the
    # SDK's provider, sampler and batch processor exporting over OTLP/HTTP to
    # OTEL_EXPORTER_OTLP_ENDPOINT, every request sampled (as glassbox-spans-100 is).
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    app.add_middleware(OpenTelemetryMiddleware)
Row: Any = (
    IrisFeatures
    if features == list(IrisFeatures.model_fields)
    else create_model(  # type: ignore[call-overload]
        "Row",
        __config__=ConfigDict(extra="forbid"),
        **{
            name: (Annotated[float, Field(strict=True, allow_inf_nan=False)], ...)
            for name in features
        },
    )
)


class Batch(BaseModel):
    instances: list[Row]


def _predict(flowers: list[Any]) -> list[dict[str, object]]:
    rows = np.array([[getattr(f, name) for name in features] for f in flowers], dtype=np.float64)
    started = time.perf_counter()
    table = inference.run(rows)
    model_call["seconds"] += time.perf_counter() - started
    model_call["calls"] += 1
    results: list[dict[str, object]] = []
    for probabilities in table.tolist():
        best = int(np.argmax(probabilities))
        results.append(
            {
                "prediction": best,
                "prediction_label": classes[best],
                "probabilities": dict(zip(classes, probabilities, strict=True)),
            }
        )
    return results


@app.post("/predict")
async def predict(flower: Row) -> dict[str, object]:
    return _predict([flower])[0]


@app.post("/predict/batch")
async def predict_batch(batch: Batch) -> dict[str, object]:
    return {"predictions": _predict(batch.instances)}


@app.get("/model-call")
async def model_call_time() -> dict[str, float]:
    return model_call
