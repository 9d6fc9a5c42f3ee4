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
"""

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI
from pydantic import BaseModel

from app.api.schemas import IrisFeatures
from app.ml.artifact import load_artifact
from app.ml.inference import InferencePath, SklearnPath, choose_path

Rows = npt.NDArray[np.float64]


class NumpyFloor:
    """StandardScaler then multinomial LogisticRegression, by hand."""

    name = "numpy"

    def __init__(self, pipeline: Any) -> None:
        scaler, classifier = pipeline[0], pipeline[-1]
        self.mean, self.scale = scaler.mean_, scaler.scale_
        self.weights, self.bias = classifier.coef_.T.copy(), classifier.intercept_

    def predict_proba(self, rows: Rows) -> Rows:
        z = ((rows - self.mean) / self.scale) @ self.weights + self.bias
        e = np.exp(z - z.max(axis=1, keepdims=True))
        result: Rows = e / e.sum(axis=1, keepdims=True)
        return result


def _inference(kind: str, artifact: Any) -> InferencePath | NumpyFloor:
    if kind == "glassbox":
        return choose_path(artifact.model, artifact.onnx_model, artifact.reference_rows)[0]
    if kind == "numpy":
        return NumpyFloor(artifact.model)
    return SklearnPath(artifact.model)


artifact = load_artifact(Path(os.environ.get("MODEL_DIR", "artifacts/latest")))
inference = _inference(os.environ.get("BASELINE_MODEL", "sklearn"), artifact)
features = list(artifact.metadata["feature_names"])
classes = list(artifact.metadata["class_names"])
model_call = {"seconds": 0.0, "calls": 0}
app = FastAPI()


class Batch(BaseModel):
    instances: list[IrisFeatures]


def _predict(flowers: list[IrisFeatures]) -> list[dict[str, object]]:
    rows = np.array([[getattr(f, name) for name in features] for f in flowers], dtype=np.float64)
    started = time.perf_counter()
    table = inference.predict_proba(rows)
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
async def predict(flower: IrisFeatures) -> dict[str, object]:
    return _predict([flower])[0]


@app.post("/predict/batch")
async def predict_batch(batch: Batch) -> dict[str, object]:
    return {"predictions": _predict(batch.instances)}


@app.get("/model-call")
async def model_call_time() -> dict[str, float]:
    return model_call
