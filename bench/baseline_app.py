"""The baseline for `make bench`: the same model and request schema behind a bare FastAPI
route, with no middleware, metrics, request ids or logging. Glassbox's /predict is
measured against this in the same run, so the table shows what observability costs.
"""

import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI

from app.api.schemas import IrisFeatures
from app.ml.artifact import load_artifact

artifact = load_artifact(Path(os.environ.get("MODEL_DIR", "artifacts/latest")))
model = artifact.model
features = list(artifact.metadata["feature_names"])
classes = list(artifact.metadata["class_names"])
app = FastAPI()


@app.post("/predict")
async def predict(flower: IrisFeatures) -> dict[str, object]:
    row = np.array([[getattr(flower, name) for name in features]], dtype=np.float64)
    probabilities = model.predict_proba(row)[0]
    best = int(probabilities.argmax())
    return {
        "prediction": best,
        "prediction_label": classes[best],
        "probabilities": dict(zip(classes, probabilities.tolist(), strict=True)),
    }
