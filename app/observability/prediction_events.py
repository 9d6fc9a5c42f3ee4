"""The `prediction` event: what the model saw and said for one request, as one log line.

Off by default (PREDICTION_LOG_SAMPLE=0): the inputs are the client's data, possibly
personal, and an event per request about doubles the log volume (bytes per request in
docs/quality.md). The access line already carries every request's outputs, version and
request id; this event adds the inputs, so "what did the model see and say for request X"
is one LogQL query, and the `feedback` event (app/api/routes/feedback.py) joins it by
request id. PREDICTION_LOG_REDACT names inputs whose values are replaced (`*`: all).
A batch logs its first MAX_ROWS rows' inputs: Loki refuses lines over 256 KB by default.
"""

import random
from collections.abc import Sequence
from typing import Any

from app.core.logging import get_logger

REDACTED = "[redacted]"
MAX_ROWS = 100

logger = get_logger("glassbox.prediction")


class PredictionEvents:
    def __init__(self, sample: float, redact: str) -> None:
        self.sample = sample
        self._redact = {name.strip() for name in redact.split(",") if name.strip()}

    def sampled(self) -> bool:
        return self.sample >= 1.0 or (self.sample > 0.0 and random.random() < self.sample)  # noqa: S311 (sampling, not secrecy)

    def write(
        self,
        request_id: str,
        model_name: str,
        model_version: str,
        names: Sequence[str],
        rows: list[list[Any]],
        outputs: Sequence[str | float],
    ) -> None:
        hidden = set(names) if "*" in self._redact else self._redact
        inputs = [
            {name: REDACTED if name in hidden else row[index] for index, name in enumerate(names)}
            for row in rows[:MAX_ROWS]
        ]
        logger.info(
            "prediction",
            prediction_request_id=request_id,
            model_name=model_name,
            model_version=model_version,
            rows=len(rows),
            inputs=inputs,
            outputs=list(outputs[:MAX_ROWS]),
        )
