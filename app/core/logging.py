"""One JSON object per stdout line, whoever logs it.

structlog renders our own events; the standard library (uvicorn, scikit-learn
warnings, tracebacks) goes through the same processors via ProcessorFormatter,
so Promtail's `json` stage can parse every line the process writes.
"""

import logging
import logging.config
import os
import sys
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict, Processor


def _tidy_foreign_fields(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Uvicorn adds an ANSI `color_message` duplicate and a trailing newline; drop both."""
    event_dict.pop("color_message", None)
    if isinstance(event_dict.get("event"), str):
        event_dict["event"] = event_dict["event"].strip()
    return event_dict


def _add_pid(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Which worker wrote the line: with WEB_CONCURRENCY > 1 a pod runs several."""
    event_dict["pid"] = os.getpid()
    return event_dict


# Runs for structlog and stdlib records alike: merge_contextvars first so the
# request id bound by the middleware lands on every line of that request.
SHARED_PROCESSORS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    structlog.stdlib.ExtraAdder(),
    _tidy_foreign_fields,
    _add_pid,
]


LEADING_KEYS = ("timestamp", "level", "logger", "event")


def _leading_keys_first(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Put timestamp/level/logger/event first so raw lines read well in `kubectl logs`."""
    head = {key: event_dict.pop(key) for key in LEADING_KEYS if key in event_dict}
    return {**head, **event_dict}


def _renderer(log_format: str) -> list[Processor]:
    if log_format == "console":
        return [structlog.dev.ConsoleRenderer(colors=True)]
    # format_exc_info turns exc_info into a string `exception` field: a traceback
    # stays inside its JSON object instead of spilling over many lines.
    return [
        structlog.processors.format_exc_info,
        _leading_keys_first,
        structlog.processors.JSONRenderer(),
    ]


def build_log_config(level: str, log_format: str) -> dict[str, Any]:
    """A logging.config dict; uvicorn applies it in every worker process too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": SHARED_PROCESSORS,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *_renderer(log_format),
                ],
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Uvicorn's loggers propagate to root so they share its one handler.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # Our access line replaces uvicorn's; keep its logger silent even if enabled.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    structlog.get_logger("glassbox").critical("uncaught_exception", exc_info=(exc_type, exc, tb))


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    """Route structlog, stdlib logging, warnings and uncaught errors to JSON on stdout."""
    logging.config.dictConfig(build_log_config(level, log_format))
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    sys.excepthook = _log_uncaught


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger whose `logger` field is `name`."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
