"""POST /feedback and /feedback/batch: the true label of an earlier prediction, by request id.

The prediction is found in this worker's memory of recent answers (app/ml/memory.py) and
scored for the version that made it, and for the shadow candidate when it scored the same
row (app/ml/quality.py). Every label is answered with its status -- recorded, unknown,
duplicate or late -- and counted in model_feedback_total; a label the predicting model
cannot have (a class it does not know, a row the request did not have) is a 422 naming the
field, and a batch is checked whole before any of it counts. With PREDICTION_LOG_SAMPLE the
`feedback` event joins the `prediction` event in Loki by request id.
"""

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from app.api.deps import registry_of
from app.api.json_route import JsonBodyRoute, JSONBytesResponse
from app.api.schemas import (
    ErrorResponse,
    FeedbackBatchRequest,
    FeedbackBatchResponse,
    FeedbackRequest,
    FeedbackResult,
)
from app.core.logging import get_logger
from app.ml.quality import Feedback, Judged, LabelError, QualityBook

router = APIRouter(
    prefix="/feedback",
    tags=["feedback"],
    responses={code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)},
    route_class=JsonBodyRoute,
)
logger = get_logger("glassbox.feedback")


def _judge(book: QualityBook, items: list[FeedbackRequest], in_batch: bool) -> list[Judged]:
    """Check every item, then record them all; LabelErrors become one 422."""
    checked, errors = [], []
    for index, item in enumerate(items):
        feedback = Feedback(item.request_id, item.label, item.row)
        try:
            entry, truth = book.check(feedback)
        except LabelError as exc:
            prefix: tuple[Any, ...] = ("body", "feedback", index) if in_batch else ("body",)
            errors.append(
                {
                    "type": f"invalid_{exc.field}",
                    "loc": (*prefix, exc.field),
                    "msg": exc.message,
                    "input": exc.value,
                }
            )
            continue
        checked.append((feedback, entry, truth))
    if errors:
        raise RequestValidationError(errors)
    judged = []
    for feedback, entry, truth in checked:
        result = book.record(feedback, entry, truth)
        logger.info(
            "feedback",
            prediction_request_id=feedback.request_id,
            row=feedback.row,
            status=result.status,
            model_version=result.model_version,
            predicted=result.predicted,
            label=result.truth,
        )
        judged.append(result)
    return judged


def _result(item: FeedbackRequest, judged: Judged) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "row": item.row,
        "status": judged.status,
        "model_version": judged.model_version,
        "predicted": judged.predicted,
    }


@router.post("", response_model=FeedbackResult)
async def feedback(body: FeedbackRequest, request: Request) -> Response:
    """The true label (or value) of one earlier prediction."""
    (judged,) = _judge(registry_of(request).quality, [body], in_batch=False)
    request.state.feedback_status = judged.status
    return JSONBytesResponse(orjson.dumps(_result(body, judged)))


@router.post("/batch", response_model=FeedbackBatchResponse)
async def feedback_batch(body: FeedbackBatchRequest, request: Request) -> Response:
    """Up to MAX_BATCH_SIZE labels in one call; a 422 for any of them records none."""
    judged = _judge(registry_of(request).quality, body.feedback, in_batch=True)
    request.state.batch_size = len(judged)
    results = [_result(item, result) for item, result in zip(body.feedback, judged, strict=True)]
    return JSONBytesResponse(orjson.dumps({"results": results}))
