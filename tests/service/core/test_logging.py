"""Every line the process writes is one JSON object; tracebacks stay inside it."""

import json
import re
import subprocess
import sys

from tests.support.service import ROOT, VALID_FLOWER, Service

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def test_every_stdout_line_is_a_json_object_and_stderr_is_empty(service: Service) -> None:
    service.post("/predict", VALID_FLOWER)
    service.post("/predict", {"bad": 1})

    raw = service.raw_lines()
    assert len(raw) >= 5  # startup lines plus the two requests
    for line in raw:
        record = json.loads(line)
        assert isinstance(record, dict)
        assert {"timestamp", "level", "logger", "event"} <= record.keys(), record
        assert RFC3339_UTC.fullmatch(record["timestamp"]), record["timestamp"]
        assert record["level"] in {"debug", "info", "warning", "error", "critical"}
        assert "color_message" not in record
    assert service.stderr_path.read_text() == ""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )


def test_logged_traceback_is_one_line_with_an_exception_field() -> None:
    result = run_python(
        "import logging\n"
        "from app.core.logging import configure_logging\n"
        "configure_logging()\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    logging.getLogger('third.party').exception('it broke')\n"
    )
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["event"] == "it broke"
    assert record["logger"] == "third.party"
    assert "ZeroDivisionError" in record["exception"]
    assert "Traceback" in record["exception"]


def test_uncaught_exception_is_one_json_line() -> None:
    result = run_python(
        "from app.core.logging import configure_logging\n"
        "configure_logging()\n"
        "raise RuntimeError('boom')\n"
    )
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["event"] == "uncaught_exception"
    assert record["level"] == "critical"
    assert "RuntimeError: boom" in record["exception"]
    assert result.stderr == ""


def test_python_warnings_become_json_lines() -> None:
    result = run_python(
        "import warnings\n"
        "from app.core.logging import configure_logging\n"
        "configure_logging()\n"
        "warnings.warn('careful')\n"
    )
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["logger"] == "py.warnings"


def test_console_format_is_for_humans() -> None:
    result = run_python(
        "from app.core.logging import configure_logging, get_logger\n"
        "configure_logging('INFO', 'console')\n"
        "get_logger('glassbox').info('hello', answer=42)\n"
    )
    assert "hello" in result.stdout
    assert "answer" in result.stdout
    assert "\x1b[" in result.stdout  # coloured
    assert not result.stdout.lstrip().startswith("{")


def test_log_level_filters_lower_levels() -> None:
    result = run_python(
        "from app.core.logging import configure_logging, get_logger\n"
        "configure_logging('WARNING')\n"
        "log = get_logger('glassbox')\n"
        "log.info('hidden')\n"
        "log.warning('shown')\n"
    )
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()] == ["shown"]


def test_the_request_line_logger_writes_the_line_structlog_writes() -> None:
    """The access line skips structlog's chain (app/core/logging.py); it must still be the
    very line the chain renders for the same event, fields and bound request id: same keys,
    same order, same values, only the clock differs."""
    result = run_python(
        "import logging, structlog\n"
        "from app.core.logging import RequestLineLogger, configure_logging, get_logger\n"
        "configure_logging('INFO')\n"
        "fields = {'method': 'POST', 'path': '/predict', 'status': 422, 'duration_ms': 1.5,\n"
        "          'client': None, 'prediction_labels': ['a', 'b'], 'batch_size': 2}\n"
        "structlog.contextvars.bind_contextvars(request_id='r-1')\n"
        "get_logger('glassbox.access').warning('http_request', **fields)\n"
        "structlog.contextvars.clear_contextvars()\n"
        "line = RequestLineLogger('glassbox.access')\n"
        "line.log(logging.WARNING, 'http_request', {**fields, 'request_id': 'r-1'})\n"
        "line.log(logging.DEBUG, 'http_request', fields)\n"  # below LOG_LEVEL: not written
    )
    chained, direct = (json.loads(raw) for raw in result.stdout.splitlines())
    assert RFC3339_UTC.fullmatch(direct.pop("timestamp"))
    chained.pop("timestamp")
    assert list(direct.items()) == list(chained.items())
    assert direct["request_id"] == "r-1"
    assert direct["level"] == "warning"


def test_the_request_line_logger_honours_the_console_format() -> None:
    result = run_python(
        "import logging\n"
        "from app.core.logging import RequestLineLogger, configure_logging\n"
        "configure_logging('INFO', 'console')\n"
        "RequestLineLogger('glassbox.access').log(logging.INFO, 'http_request', {'status': 200})\n"
    )
    assert "http_request" in result.stdout
    assert not result.stdout.lstrip().startswith("{")
