"""Spans: OpenTelemetry's SDK and OTLP exporter, made after the response.

With spans on (Settings.spans_enabled: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint), a
sampled request gets a server span (HTTP semantic conventions: method, route template,
status; a refused request's error code) and, when a model answered, a child span around
the model call (name, version, task, rows, inference path). The sampler is the SDK's, from
OTEL_TRACES_SAMPLER / _ARG (parent-based ratio by default: a caller's decision is kept);
spans go to the SDK's BatchSpanProcessor, whose thread exports them over OTLP/HTTP, its
queue bounded (OTEL_BSP_MAX_QUEUE_SIZE): a collector that is down or slow costs requests
nothing, and what the queue drops is counted by the SDK's own processor and exporter
metrics, surfaced as otel_sdk_* counters on /metrics.

Made from what the request recorded anyway (app/middleware/trace_context.py: the ids and
the start; the access pass: the status and duration; the dataplane's answer: the model
call's start and length), in the deferred pass after the response, as finished
ReadableSpans handed to the processor: no span object lives through the request, no
context is attached on the request's path. opentelemetry-instrumentation-asgi does the same
job on the request's path: wrapping the ASGI app, a span and a context per request, and
two more spans per response (send); `make bench` measures it on the bare endpoint beside
this (docs/tracing.md).
"""

import os
from typing import Any

from prometheus_client import Counter

from app import __version__
from app.core.config import Settings
from app.core.logging import get_logger
from app.observability.access import random_hex

logger = get_logger("glassbox.tracing")

SPANS_PROCESSED = Counter(
    "otel_sdk_processor_span_processed",
    "Spans the SDK's batch processor handed to the exporter, or dropped (error_type: "
    "queue_full while the collector cannot keep up).",
    ["error_type"],
)
SPANS_EXPORTED = Counter(
    "otel_sdk_exporter_span_exported",
    "Spans the OTLP exporter sent (error_type empty) or failed to send.",
    ["error_type"],
)
NEVER_TRACED = frozenset({"/healthz", "/readyz", "/metrics"})
SHUTDOWN_MILLIS = 2000


class Spans:
    """The SDK's sampler, resource and batch processor with its OTLP exporter, built once
    per worker (after the fork: the processor owns a thread)."""

    def __init__(self, settings: Settings) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._sampler = _sampler(settings.OTEL_TRACES_SAMPLER, settings.OTEL_TRACES_SAMPLER_ARG)
        attributes: dict[str, Any] = dict(_pairs(settings.OTEL_RESOURCE_ATTRIBUTES))
        attributes["service.name"] = settings.OTEL_SERVICE_NAME
        attributes.setdefault("service.version", __version__)
        self._resource = Resource.create(attributes)
        self._scope = InstrumentationScope("glassbox", __version__)
        # The SDK counts what its processor drops and its exporter fails to send only with
        # its own switch on; its meter provider is read into our counters before /metrics.
        os.environ.setdefault("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
        self._reader = InMemoryMetricReader()
        meters = MeterProvider(metric_readers=[self._reader])
        exporter = OTLPSpanExporter(
            endpoint=settings.otlp_traces_endpoint,
            headers=dict(_pairs(settings.OTEL_EXPORTER_OTLP_HEADERS.get_secret_value())),
            timeout=settings.OTEL_EXPORTER_OTLP_TIMEOUT / 1000,
            meter_provider=meters,
        )
        self._processor = BatchSpanProcessor(exporter, meter_provider=meters)
        self._counted: dict[tuple[str, str], float] = {}
        self.endpoint = settings.otlp_traces_endpoint

    def sampled(self, state: dict[str, Any]) -> bool:
        """The sampler's decision for this request, taken once (the model span and the
        server span follow it)."""
        decided: bool | None = state.get("trace_sampled")
        if decided is None:
            decided = self._decide(state)
            state["trace_sampled"] = decided
        return decided

    def _decide(self, state: dict[str, Any]) -> bool:
        from opentelemetry.trace import NonRecordingSpan, SpanKind, set_span_in_context

        parent = _parent(state)
        context = set_span_in_context(NonRecordingSpan(parent)) if parent else None
        result = self._sampler.should_sample(
            context, int(state["trace_id"], 16), "", SpanKind.SERVER
        )
        return bool(result.decision.is_sampled())

    def server(
        self, state: dict[str, Any], method: str, handler: str, path: str, status: int,
        duration_s: float,
    ) -> None:  # fmt: skip
        """The request's server span, when its trace is sampled and its route is traced."""
        if "trace_id" not in state or handler in NEVER_TRACED or not self.sampled(state):
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start = _start_ns(state)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "http.route": handler,
            "http.response.status_code": status,
            "url.path": path,
            "url.scheme": "http",
            "glassbox.request_id": state.get("request_id", ""),
        }
        if "error_code" in state:
            attributes["glassbox.error_code"] = state["error_code"]
        status_of = Status(StatusCode.UNSET)
        if status >= 500:  # the semantic conventions: a server's 4xx is the client's error
            attributes["error.type"] = str(status)
            status_of = Status(StatusCode.ERROR, state.get("error_code"))
        self._end(
            f"{method} {handler}", state, state["span_id"], _parent(state), SpanKind.SERVER,
            attributes, start, start + int(duration_s * 1e9), status_of,
        )  # fmt: skip

    def model(
        self, state: dict[str, Any], model: dict[str, Any], started: float, seconds: float
    ) -> None:
        """The model call's span, a child of the request's server span: `model` its
        attributes (name, version, task, rows, inference path), `started` its
        time.perf_counter() start."""
        if "trace_id" not in state or not self.sampled(state):
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        began = state["trace_began"]
        start = began[0] + int((started - began[1]) * 1e9)
        attributes = {f"glassbox.model.{key}": value for key, value in model.items()}
        self._end(
            f"predict {model['name']}", state, random_hex(8), self._server_context(state),
            SpanKind.INTERNAL, attributes, start, start + int(seconds * 1e9),
            Status(StatusCode.UNSET),
        )  # fmt: skip

    def _server_context(self, state: dict[str, Any]) -> Any:
        from opentelemetry.trace import SpanContext, TraceFlags

        return SpanContext(
            int(state["trace_id"], 16), int(state["span_id"], 16), False, TraceFlags(1)
        )

    def _end(
        self, name: str, state: dict[str, Any], span_id: str, parent: Any, kind: Any,
        attributes: dict[str, Any], start: int, end: int, status: Any,
    ) -> None:  # fmt: skip
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, TraceFlags, TraceState

        tracestate = state.get("trace_parent", ("", False, ""))[2]
        context = SpanContext(
            int(state["trace_id"], 16), int(span_id, 16), False, TraceFlags(1),
            TraceState.from_header([tracestate]) if tracestate else None,
        )  # fmt: skip
        span = ReadableSpan(
            name, context, parent, self._resource, attributes, kind=kind, status=status,
            start_time=start, end_time=end, instrumentation_scope=self._scope,
        )  # fmt: skip
        self._processor.on_end(span)

    def publish(self) -> None:
        """The SDK's own counts of spans processed, dropped, exported and failed, into
        this worker's Prometheus counters (by their increase)."""
        data = self._reader.get_metrics_data()
        if data is None:
            return
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    counter = _SURFACED.get(metric.name)
                    if counter is None:
                        continue
                    for point in metric.data.data_points:
                        value = getattr(point, "value", 0)  # a counter's: a NumberDataPoint
                        error = str((point.attributes or {}).get("error.type", ""))
                        key = (metric.name, error)
                        increase = value - self._counted.get(key, 0)
                        if increase > 0:
                            counter.labels(error).inc(increase)
                            self._counted[key] = value

    def shutdown(self) -> None:
        """What is queued, exported within SHUTDOWN_MILLIS; then the thread stops."""
        self._processor.force_flush(SHUTDOWN_MILLIS)
        self._processor.shutdown()  # type: ignore[no-untyped-call]
        self.publish()


_SURFACED = {
    "otel.sdk.processor.span.processed": SPANS_PROCESSED,
    "otel.sdk.exporter.span.exported": SPANS_EXPORTED,
}


def _start_ns(state: dict[str, Any]) -> int:
    began: tuple[int, float] = state["trace_began"]  # (time.time_ns(), perf_counter())
    return began[0]


def _parent(state: dict[str, Any]) -> Any:
    """The caller's span, as the SDK's remote SpanContext; None for a trace started here."""
    caller = state.get("trace_parent")
    if caller is None:
        return None
    from opentelemetry.trace import SpanContext, TraceFlags

    parent_id, sampled, _ = caller
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return SpanContext(int(state["trace_id"], 16), int(parent_id, 16), True, flags)


def _sampler(name: str, ratio: float) -> Any:
    """The sampler OTEL_TRACES_SAMPLER names, built from Settings (the one source)."""
    from opentelemetry.sdk.trace import sampling

    ratio_based = sampling.TraceIdRatioBased(ratio)
    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": ratio_based,
    }
    chosen: Any = root[name.removeprefix("parentbased_")]
    return sampling.ParentBased(chosen) if name.startswith("parentbased_") else chosen


def _pairs(text: str) -> list[tuple[str, str]]:
    """`key=value,key=value` as OpenTelemetry's variables write them (values URL-decoded)."""
    from urllib.parse import unquote

    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            pairs.append((key.strip(), unquote(value.strip())))
    return pairs
