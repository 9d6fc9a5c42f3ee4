"""POST /feedback and /feedback/batch: the true label of an earlier prediction, by request id.

The prediction is found in the prediction store (app/ml/quality/store.py: this worker's
memory, or a shared Redis with PREDICTION_STORE_URL), filled by the dataplane's sinks, and
scored for the version that made it, and for the shadow candidate when it scored the same
row (app/ml/quality/feedback.py). A store that cannot be asked is a 503
`prediction_store_unavailable` naming it, within 2 s. Every label is
answered with its status -- recorded, unknown, duplicate or late -- and counted in
model_feedback_total; a label the predicting model cannot have (a class it does not know,
a row the request did not have) is a 422 naming the field, and a batch is checked whole
before any of it counts. With PREDICTION_LOG_SAMPLE the
`feedback` event joins the `prediction` event in Loki by request id.
"""

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from app.api.body import JSONBytesResponse, raw_header, read_json, validated
from app.api.deps import dataplane_of, only_on_port, settings_of
from app.api.routing import DirectRoute, body_schema
from app.api.schemas import (
    ErrorResponse,
    FeedbackBatchRequest,
    FeedbackBatchResponse,
    FeedbackRequest,
    FeedbackResult,
)
from app.core.config import Settings
from app.core.errors import ApiError
from app.core.logging import get_logger
from app.ml.quality.feedback import Feedback, Judged, LabelError, QualityBook
from app.ml.quality.store import StoreUnavailableError

router = APIRouter(
    prefix="/feedback",
    tags=["feedback"],
    responses={code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)},
    route_class=DirectRoute,
)
logger = get_logger("glassbox.feedback")
BodyT = TypeVar("BodyT", bound=BaseModel)


def _authorize(request: Request, token: str) -> None:
    """With FEEDBACK_TOKEN, only a caller holding it labels: anyone else could move live
    accuracy, page GlassboxModelQualityDrop or pass the promotion gate with labels of their
    own. Compared in constant time; the access line says `unauthorized`, never the token."""
    if not token:
        return
    sent = raw_header(request, b"authorization") or b""
    scheme, _, credentials = sent.partition(b" ")
    if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials, token.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "send the feedback token: Authorization: Bearer <FEEDBACK_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def _judge(book: QualityBook, items: list[FeedbackRequest], in_batch: bool) -> list[Judged]:
    """Check every item, then record them all; LabelErrors become one 422, a store that
    cannot be asked a 503 naming it (never `unknown` for a label not looked up)."""
    try:
        return await _judge_all(book, items, in_batch)
    except StoreUnavailableError as exc:
        raise ApiError(
            503,
            "prediction_store_unavailable",
            f"{exc}; the label was not recorded: send it again later",
            [{"store": exc.store}],
        ) from exc


async def _judge_all(
    book: QualityBook, items: list[FeedbackRequest], in_batch: bool
) -> list[Judged]:
    checked, errors = [], []
    for index, item in enumerate(items):
        feedback = Feedback(item.request_id, item.label, item.row)
        try:
            entry, truth = await book.check(feedback)
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
        result = await book.record(feedback, entry, truth)
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


async def _body(request: Request, model: type[BodyT], limit: Callable[[Settings], int]) -> BodyT:
    """FEEDBACK_PORT's port (404), the caller's token (401), the JSON body (415 / 413 over
    `limit`, 400), 503 while no model serves, then the fields (422)."""
    settings = settings_of(request)
    only_on_port(request, settings.FEEDBACK_PORT)
    _authorize(request, settings.FEEDBACK_TOKEN.get_secret_value())
    data = await read_json(request, limit(settings))
    dataplane_of(request).model()
    body = validated(model, data, settings)
    assert isinstance(body, model)
    return body


@router.post("", response_model=FeedbackResult, openapi_extra=body_schema(FeedbackRequest))
async def feedback(request: Request) -> Response:
    """The true label (or value) of one earlier prediction."""
    body = await _body(request, FeedbackRequest, FeedbackRequest.max_body_bytes)
    (judged,) = await _judge(dataplane_of(request).feedback, [body], in_batch=False)
    request.scope["state"]["feedback_status"] = judged.status
    return JSONBytesResponse(orjson.dumps(_result(body, judged)))


@router.post(
    "/batch", response_model=FeedbackBatchResponse, openapi_extra=body_schema(FeedbackBatchRequest)
)
async def feedback_batch(request: Request) -> Response:
    """Up to MAX_BATCH_SIZE labels in one call; a 422 for any of them records none."""
    body = await _body(request, FeedbackBatchRequest, FeedbackBatchRequest.max_body_bytes)
    judged = await _judge(dataplane_of(request).feedback, body.feedback, in_batch=True)
    request.scope["state"]["batch_size"] = len(judged)
    results = [_result(item, result) for item, result in zip(body.feedback, judged, strict=True)]
    return JSONBytesResponse(orjson.dumps({"results": results}))
