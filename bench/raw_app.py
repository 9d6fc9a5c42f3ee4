"""The floor for `make bench`: one POST /predict as a raw ASGI callable, no framework.

orjson parses the body, the rows go to Glassbox's inference path (the one the artifact's
load chose, app/ml/inference.py), orjson writes the answer. No validation beyond what
building the float matrix refuses, no middleware, metrics, request id or log line: what
is left is uvicorn, the JSON library and the model call. `/predict` is held to a share
of this (bench/run.py), so the price of everything Glassbox adds is one visible ratio.
"""

import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from app.ml.artifact import load_artifact
from app.ml.inference import choose_path

_artifact = load_artifact(Path(os.environ.get("MODEL_DIR", "artifacts/latest")))
_inference = choose_path(
    _artifact.model, _artifact.contract, _artifact.onnx_model, _artifact.reference_rows
)[0]
_features = list(_artifact.metadata["feature_names"])
_classes = list(_artifact.metadata["class_names"])
_HEADERS = [(b"content-type", b"application/json")]


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to start
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        return
    try:
        row = orjson.loads(await _body(receive))
        rows = np.array([[row[name] for name in _features]], dtype=np.float64)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        await send({"type": "http.response.start", "status": 422, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": b'{"detail":"invalid row"}'})
        return
    probabilities = _inference.run(rows).tolist()[0]
    best = int(np.argmax(probabilities))
    answer = {
        "prediction": best,
        "prediction_label": _classes[best],
        "probabilities": dict(zip(_classes, probabilities, strict=True)),
    }
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": orjson.dumps(answer)})
