"""One JSON object per stdout line, whoever logs it.

Our own events (the access line on every request among them) take structlog's fast
path: a filtering bound logger, orjson, bytes straight to stdout -- the setup structlog's
performance guide recommends, measured by `make bench` at a fifth of the cost of routing
them through the standard library. The standard library (uvicorn, scikit-learn
warnings, tracebacks) goes through the same shared processors via ProcessorFormatter,
so Promtail's `json` stage can parse every line the process writes.
"""

import logging
import logging.config
import os
import sys
import time
from types import TracebackType
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor

from app.core.traceparent import parse_traceparent


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


class _UtcTimestamp:
    """`timestamp` as RFC 3339 UTC with microseconds (2026-01-02T03:04:05.123456Z).

    The same text structlog's TimeStamper(fmt="iso", utc=True) writes, at a fifth of its
    cost: the date-and-seconds prefix is formatted once per second, not once per line
    (the access line is written on every request; profiled at 3 % of /predict).
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._prefix_bytes = b""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._new_second(second)
        return f"{self._prefix}.{int((now - second) * 1e6):06d}Z"

    def now_bytes(self) -> bytes:
        """now() as bytes, for lines written as bytes: from the clock's integer nanoseconds
        (0.3 µs against 0.5 µs for now().encode(), timeit)."""
        second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            self._new_second(second)
        return b"%b.%06dZ" % (self._prefix_bytes, nanoseconds // 1000)

    def _new_second(self, second: int) -> None:
        self._second = second
        self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._prefix_bytes = self._prefix.encode()

    def __call__(self, _: Any, __: str, event_dict: EventDict) -> EventDict:
        event_dict["timestamp"] = self.now()
        return event_dict


_TIMESTAMP = _UtcTimestamp()


def _trace_id_from_header(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The request's trace id, bound by the edge as the caller's raw traceparent
    (app/middleware/trace_context.py): read only when a line is written during the
    request; a malformed header names no trace."""
    raw = event_dict.get("trace_id")
    if isinstance(raw, bytes):
        parent = parse_traceparent(raw)
        if parent is None:
            del event_dict["trace_id"]
        else:
            event_dict["trace_id"] = parent[0]
    return event_dict


# Runs for structlog and stdlib records alike: merge_contextvars first so the
# request id bound by the middleware lands on every line of that request.
COMMON_PROCESSORS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    _trace_id_from_header,
    structlog.processors.add_log_level,
    _TIMESTAMP,
    _add_pid,
]
# Records from the standard library also carry their logger's name and `extra=` fields.
SHARED_PROCESSORS: list[Processor] = [
    *COMMON_PROCESSORS,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    _tidy_foreign_fields,
]


LEADING_KEYS = ("timestamp", "level", "logger", "event")
# int keys (as json.dumps allows) and NumPy scalars (model outputs) serialise as values.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _renderer(log_format: str) -> list[Processor]:
    """The stdlib formatter's last steps: a str per line."""
    if log_format == "console":
        return [structlog.dev.ConsoleRenderer(colors=True)]
    # format_exc_info turns exc_info into a string `exception` field: a traceback
    # stays inside its JSON object instead of spilling over many lines.
    return [structlog.processors.format_exc_info, _render_json_str]


def _ordered(event_dict: EventDict) -> EventDict:
    """timestamp/level/logger/event first, so raw lines read well in `kubectl logs`."""
    head = {key: event_dict.pop(key) for key in LEADING_KEYS if key in event_dict}
    head.update(event_dict)
    return head


def _render_json_bytes(_: Any, __: str, event_dict: EventDict) -> bytes:
    return orjson.dumps(_ordered(event_dict), default=repr, option=_ORJSON_OPTIONS)


def _render_json_str(_: Any, __: str, event_dict: EventDict) -> str:
    return orjson.dumps(_ordered(event_dict), default=repr, option=_ORJSON_OPTIONS).decode()


def _structlog_renderer(log_format: str) -> list[Processor]:
    """Our own events' last steps: bytes for the BytesLogger (no str round trip)."""
    if log_format == "console":
        return [structlog.dev.ConsoleRenderer(colors=True)]
    return [structlog.processors.format_exc_info, _render_json_bytes]


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
    get_logger("glassbox").critical("uncaught_exception", exc_info=(exc_type, exc, tb))


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    """Route structlog, stdlib logging, warnings and uncaught errors to JSON on stdout."""
    _Configured.level = logging.getLevelName(level)
    _Configured.json = log_format != "console"
    logging.config.dictConfig(build_log_config(level, log_format))
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            *COMMON_PROCESSORS,
            structlog.stdlib.add_logger_name,  # reads .name, which our writers carry
            *_structlog_renderer(log_format),
        ],
        logger_factory=_NamedWriterFactory(console=log_format == "console"),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    sys.excepthook = _log_uncaught


class _NamedBytesLogger(structlog.BytesLogger):
    def __init__(self, name: str) -> None:
        super().__init__(sys.stdout.buffer)
        self.name = name


class _NamedWriteLogger(structlog.WriteLogger):
    def __init__(self, name: str) -> None:
        super().__init__(sys.stdout)
        self.name = name


class _NamedWriterFactory:
    """stdout writers that know their logger's name (`logger` field). Both this writer and
    the stdlib handler flush every line, so their lines never interleave."""

    def __init__(self, console: bool) -> None:
        self.console = console

    def __call__(self, *args: Any) -> structlog.BytesLogger | structlog.WriteLogger:
        name = str(args[0]) if args else "glassbox"
        return _NamedWriteLogger(name) if self.console else _NamedBytesLogger(name)


def get_logger(name: str) -> Any:
    """A structlog logger whose `logger` field is `name` (a filtering bound logger)."""
    return structlog.get_logger(name)


class _Configured:
    """What configure_logging set, for RequestLineLogger."""

    level = logging.INFO
    json = True


_LEVEL_NAMES = {logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error"}


class _Pid:
    """This process's `,"pid":N}` line ending, renewed in a forked child (os.getpid() is a
    system call per line otherwise)."""

    tail = b""

    @classmethod
    def renew(cls) -> None:
        cls.tail = b',"pid":%d}\n' % os.getpid()


_Pid.renew()
os.register_at_fork(after_in_child=_Pid.renew)


class RequestLineLogger:
    """A logger for the one line written on every request (the access line), without
    structlog's processor chain.

    The line is the one the chain above renders -- timestamp, level, logger and event
    first, the fields in order, then `pid` -- and the caller passes the request id among
    the fields (it is the only value Glassbox binds per request). Written out, not left
    to structlog, because the chain copies the whole contextvars context and runs seven
    processors for every line: py-spy measured the access line through it at 11 % of
    /predict's worker time, and ~3 % written here (docs/performance.md). The constant
    parts (level, logger, event, pid) are encoded once and only the fields per line: the
    line as one dict through orjson was ~1.5 µs more (timeit). LOG_LEVEL filters as it
    does for every logger; the console format takes structlog's path as before.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._structlog = get_logger(name)
        self._heads: dict[tuple[int, str], bytes] = {}

    def log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        line = self.line(level, event, fields)
        if line is not None:
            self.write([line])

    def line(self, level: int, event: str, fields: dict[str, Any]) -> bytes | None:
        """The JSON line for `fields`, or None: below LOG_LEVEL, or in the console format
        (written through structlog at once)."""
        if level < _Configured.level:
            return None
        if not _Configured.json:
            getattr(self._structlog, _LEVEL_NAMES[level])(event, **fields)
            return None
        head = self._heads.get((level, event)) or self._head(level, event)
        body = orjson.dumps(fields, default=repr, option=_ORJSON_OPTIONS)
        timestamp = _TIMESTAMP.now_bytes()
        if len(body) > 2:  # "{...}": its members follow the event's
            return b"".join((b'{"timestamp":"', timestamp, head, b",", body[1:-1], _Pid.tail))
        return b"".join((b'{"timestamp":"', timestamp, head, _Pid.tail))

    @staticmethod
    def write(lines: list[bytes]) -> None:
        """Lines to stdout in one write, flushed at once like every other line."""
        out = sys.stdout.buffer
        out.write(b"".join(lines))
        out.flush()

    def _head(self, level: int, event: str) -> bytes:
        """`","level":...,"event":...` for this level and event, encoded once."""
        rest = {"level": _LEVEL_NAMES[level], "logger": self.name, "event": event}
        head = b'"' + orjson.dumps(rest)[:-1].replace(b"{", b",", 1)
        self._heads[(level, event)] = head
        return head
