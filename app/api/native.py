"""The native JSON API's codec: a /predict or /predict/batch body to the model's matrix, and
the model's answer back to JSON.

The bodies are the ones app/api/model_api.py built from the model's contract; their
errors are FastAPI's 422 with ("body", ...) locations. Every body is validated, then read
into the matrix: a row of plain numbers used to skip the body, but `make bench` measured
that shortcut at +1.1 % req/s against a 6.3 % noise (2026-12-07), so it went (issue 30).
"""

from typing import Any

import orjson
from fastapi import Response
from fastapi.exceptions import RequestValidationError

from app.api.body import JSONBytesResponse, validated
from app.api.model_api import ModelApi
from app.core.config import Settings
from app.dataplane import Refusal
from app.ml.serving.runtime import Matrix, ModelRuntime, Predictions


class NativeCodec:
    """One model API's bodies, their byte budgets, and the fast paths left on."""

    def __init__(self, api: ModelApi, settings: Settings) -> None:
        self.row_model, self.batch_model = api.row, api.batch
        self.row_bytes = api.row.max_body_bytes(settings)
        self.batch_bytes = api.batch.max_body_bytes(settings)
        self.fast_json = settings.fast_path("fast-json")
        self._settings = settings

    def row_matrix(self, data: Any, runtime: ModelRuntime) -> Matrix:
        """The model's one-row matrix for a /predict body, or 422 naming the field."""
        row = validated(self.row_model, data, self._settings)
        return runtime.matrix([runtime.row_values(row)])

    def batch_matrix(self, data: Any, runtime: ModelRuntime) -> Matrix:
        """The model's matrix for a /predict/batch body (its size counted before any row
        is validated), or 422 naming the row and field."""
        body = validated(self.batch_model, data, self._settings)
        values = runtime.row_values  # one C-level attrgetter call per row: a getattr per
        # field was 13 % of a 100-row batch of a 30-input model (py-spy)
        return runtime.matrix([values(row) for row in body.instances])  # type: ignore[attr-defined]

    @staticmethod
    def refused(refusals: list[Refusal], in_batch: bool) -> RequestValidationError:
        """The dataplane's OUT_OF_RANGE refusals as the 422 naming each field."""
        return RequestValidationError(
            [
                {
                    "type": refusal.type,
                    "loc": ("body", "instances", refusal.row, refusal.input)
                    if in_batch
                    else ("body", refusal.input),
                    "msg": refusal.message,
                    "input": refusal.value,
                }
                for refusal in refusals
            ]
        )

    @staticmethod
    def row_answer(predictions: Predictions, runtime: ModelRuntime, request_id: str) -> Response:
        result = _results(predictions, runtime)[0]
        result["model_version"] = runtime.version
        result["request_id"] = request_id
        return JSONBytesResponse(orjson.dumps(result))

    @staticmethod
    def batch_answer(predictions: Predictions, runtime: ModelRuntime, request_id: str) -> Response:
        answer = {
            "predictions": _results(predictions, runtime),
            "model_version": runtime.version,
            "request_id": request_id,
        }
        return JSONBytesResponse(orjson.dumps(answer))


def _results(predictions: Predictions, runtime: ModelRuntime) -> list[dict[str, Any]]:
    """PredictionResult- or RegressionResult-shaped dicts (the schema test checks them)."""
    if runtime.task == "regression":
        return [{"prediction": value} for value in predictions.values]
    class_names = runtime.class_names
    return [
        {
            "prediction": winner,
            "prediction_label": class_names[winner],
            "probabilities": dict(zip(class_names, row, strict=True)),
        }
        for winner, row in zip(predictions.winners, predictions.probabilities, strict=True)
    ]
