"""An OTLP/HTTP receiver for the tests: the real exporter posts protobuf to it, and the test
reads the spans back decoded with opentelemetry-proto, the wire format a collector reads.
It can answer slowly or refuse, as a collector under load or down would."""

import gzip
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SERVER, INTERNAL = 2, 1  # OTLP's span kinds


def traceparent(sampled: bool = True) -> tuple[str, str, str]:
    """(trace id, caller's span id, the W3C header) for a new trace."""
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


@dataclass
class ExportedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    start_ns: int
    end_ns: int


@dataclass
class Receiver:
    url: str
    spans: list[ExportedSpan] = field(default_factory=list)
    delay_seconds: float = 0.0  # how long each export is held before the answer
    refuse: bool = False  # answer 503 to every export
    exports: int = 0

    def wait_for(self, count: int, timeout: float = 15.0) -> list[ExportedSpan]:
        deadline = time.monotonic() + timeout
        while len(self.spans) < count:
            assert time.monotonic() < deadline, f"{len(self.spans)} spans, not {count}"
            time.sleep(0.05)
        return list(self.spans)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


def decoded_spans(resource_spans: Any) -> list[ExportedSpan]:
    """The spans of OTLP's `ResourceSpans` messages, ids as hex."""
    return [
        ExportedSpan(
            span.name,
            span.trace_id.hex(),
            span.span_id.hex(),
            span.parent_span_id.hex(),
            span.kind,
            _attributes(span.attributes),
            _attributes(batch.resource.attributes),
            span.status.code,
            span.start_time_unix_nano,
            span.end_time_unix_nano,
        )
        for batch in resource_spans
        for scope_spans in batch.scope_spans
        for span in scope_spans.spans
    ]


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """An OTLP/HTTP receiver on 127.0.0.1: its base URL, for OTEL_EXPORTER_OTLP_ENDPOINT."""
    lock = threading.Lock()
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            if receiver.refuse or self.path != "/v1/traces":
                self.send_response(503 if receiver.refuse else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = ExportTraceServiceRequest.FromString(body)
            with lock:
                receiver.exports += 1
                receiver.spans.extend(decoded_spans(request.resource_spans))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
