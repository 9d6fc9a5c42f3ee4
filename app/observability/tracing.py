"""Spans: OpenTelemetry's SDK and OTLP exporter, made after the response.

With spans on (Settings.spans_enabled: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint), a
sampled request gets a server span (HTTP semantic conventions: method, route template,
status; a refused request's error code) and, when a model answered, a child span around
the model call (name, version, task, rows, inference path). The samplers are the SDK's,
from OTEL_TRACES_SAMPLER / _ARG (parent-based ratio by default: a caller's decision is
kept); spans go to the SDK's BatchSpanProcessor, whose thread exports them over OTLP/HTTP,
its queue bounded (OTEL_BSP_MAX_QUEUE_SIZE): a collector that is down or slow costs
requests nothing, and what is dropped or fails is counted by the SDK's own processor and
exporter metrics, surfaced as otel_sdk_* counters on /metrics, with one log line when
drops start (the SDK's own warning per dropped span is silenced: a line per span).

Made from what the request recorded anyway (the caller's traceparent the edge kept, read
by app/observability/access.py `resolve_trace`; the start; the access pass: the status and
duration; the dataplane's answer: the model call's start and length), in the deferred pass
after the response, as finished ReadableSpans handed to the processor: no span object
lives through the request, no context is attached on the request's path.
opentelemetry-instrumentation-asgi does the same job on the request's path (a span and a
context per request, two more spans per response): on the bare endpoint, every request
sampled, `make bench` measured it at 0.33x that endpoint's requests/s and 12.8x its p99
(2026-12-07, AMD EPYC); these spans at 100 % cost Glassbox 0.59x (docs/tracing.md).

Two steps are the SDK's rules applied without its objects, for their cost per request
(timeit here): ParentBased's choice of delegate is made from the caller's flag instead of
a Context and a NonRecordingSpan (2.3 us a request with them, every request, sampled or
not); the root sampler is the SDK's, its decision taken by its own rule and figures
(`_root_rule`: 0.16 us against 1.1 for `should_sample`).
"""

import logging
import os
from collections.abc import Callable
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
_SDK_QUEUE_LOGGER = "opentelemetry.sdk._shared_internal"


class Spans:
    """The SDK's sampler, resource and batch processor with its OTLP exporter, built once
    per worker (after the fork: the processor owns a thread)."""

    def __init__(self, settings: Settings) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import (
            SpanContext,
            SpanKind,
            Status,
            StatusCode,
            TraceFlags,
            TraceState,
        )

        self._span, self._context, self._tracestate = ReadableSpan, SpanContext, TraceState
        self._server_kind, self._internal_kind = SpanKind.SERVER, SpanKind.INTERNAL
        self._unset, self._error = Status(StatusCode.UNSET), StatusCode.ERROR
        self._status = Status
        self._sampled_flags = TraceFlags(TraceFlags.SAMPLED)
        self._unsampled_flags = TraceFlags(TraceFlags.DEFAULT)
        name = settings.OTEL_TRACES_SAMPLER
        self._parent_based = name.startswith("parentbased_")
        self._root_samples = _root_rule(
            _root_sampler(name.removeprefix("parentbased_"), settings.OTEL_TRACES_SAMPLER_ARG)
        )
        attributes: dict[str, Any] = dict(_pairs(settings.OTEL_RESOURCE_ATTRIBUTES))
        attributes["service.name"] = settings.OTEL_SERVICE_NAME
        attributes.setdefault("service.version", __version__)
        self._resource = Resource.create(attributes)
        self._scope = InstrumentationScope("glassbox", __version__)
        # The SDK counts what its processor drops and its exporter fails to send only with
        # its own switch on; its meter provider is read into our counters before /metrics.
        os.environ.setdefault("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
        logging.getLogger(_SDK_QUEUE_LOGGER).setLevel(logging.ERROR)
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
        self._dropping = False
        self.endpoint = settings.otlp_traces_endpoint

    # -- the sampler's decision, once per request ----------------------------------------

    def sampled(self, state: dict[str, Any]) -> bool:
        """Whether this request's spans are made: taken once (the model span and the
        server span follow it), False for a request without a trace."""
        decided: bool | None = state.get("trace_sampled")
        if decided is None:
            decided = "trace_id" in state and self._decide(state)
            state["trace_sampled"] = decided
        return decided

    def _decide(self, state: dict[str, Any]) -> bool:
        caller = state.get("trace_parent")
        if caller is not None and self._parent_based:
            # ParentBased's defaults: a remote parent's own decision, sampled or not.
            return bool(caller[1])
        return self._root_samples(state["trace_id"])

    # -- the spans ------------------------------------------------------------------------

    def server(
        self, state: dict[str, Any], method: str, handler: str, path: str, status: int,
        duration_s: float,
    ) -> None:  # fmt: skip
        """The request's server span, when its trace is sampled and its route is traced."""
        if handler in NEVER_TRACED or not self.sampled(state):
            return
        start: int = state["trace_began"][0]
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
        outcome = self._unset
        if status >= 500:  # the semantic conventions: a server's 4xx is the client's error
            attributes["error.type"] = str(status)
            outcome = self._status(self._error, state.get("error_code"))
        caller = state.get("trace_parent")
        parent = None
        if caller is not None:
            flags = self._sampled_flags if caller[1] else self._unsampled_flags
            parent = self._context(int(state["trace_id"], 16), int(caller[0], 16), True, flags)
        self._end(
            f"{method} {handler}", state, state["span_id"], parent, self._server_kind,
            attributes, start, start + int(duration_s * 1e9), outcome,
        )  # fmt: skip

    def model(
        self, state: dict[str, Any], model: dict[str, Any], started: float, seconds: float
    ) -> None:
        """The model call's span, a child of the request's server span: `model` its
        attributes (name, version, task, rows, inference path), `started` its
        time.perf_counter() start."""
        began_ns, began = state["trace_began"]
        start = began_ns + int((started - began) * 1e9)
        server = self._context(
            int(state["trace_id"], 16), int(state["span_id"], 16), False, self._sampled_flags
        )
        attributes = {f"glassbox.model.{key}": value for key, value in model.items()}
        self._end(
            f"predict {model['name']}", state, random_hex(8), server, self._internal_kind,
            attributes, start, start + int(seconds * 1e9), self._unset,
        )  # fmt: skip

    def _end(
        self, name: str, state: dict[str, Any], span_id: str, parent: Any, kind: Any,
        attributes: dict[str, Any], start: int, end: int, status: Any,
    ) -> None:  # fmt: skip
        caller = state.get("trace_parent")
        tracestate = self._tracestate.from_header([caller[2]]) if caller and caller[2] else None
        context = self._context(
            int(state["trace_id"], 16), int(span_id, 16), False, self._sampled_flags, tracestate
        )
        span = self._span(
            name, context, parent, self._resource, attributes, kind=kind, status=status,
            start_time=start, end_time=end, instrumentation_scope=self._scope,
        )  # fmt: skip
        self._processor.on_end(span)

    # -- what the SDK counted -------------------------------------------------------------

    def publish(self) -> None:
        """The SDK's own counts of spans processed, dropped, exported and failed, into
        this worker's Prometheus counters (by their increase); one line when losses start:
        spans dropped from the full queue, or exports the collector refused or never took."""
        data = self._reader.get_metrics_data()
        if data is None:
            return
        lost: set[str] = set()
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
                            if error:
                                lost.add(error)
        if bool(lost) != self._dropping:
            self._dropping = bool(lost)
            if lost:
                logger.warning(
                    "spans_dropped",
                    endpoint=self.endpoint,
                    error_types=sorted(lost),
                    effect="requests are served; spans the collector cannot take are lost "
                    "(otel_sdk_processor_span_processed_total, "
                    'otel_sdk_exporter_span_exported_total: error_type != "")',
                )

    def shutdown(self) -> None:
        """What is queued, exported within SHUTDOWN_MILLIS; then the thread stops."""
        self._processor.force_flush(SHUTDOWN_MILLIS)
        self._processor.shutdown()  # type: ignore[no-untyped-call]
        self.publish()


_SURFACED = {
    "otel.sdk.processor.span.processed": SPANS_PROCESSED,
    "otel.sdk.exporter.span.exported": SPANS_EXPORTED,
}


def _root_sampler(name: str, ratio: float) -> Any:
    """The SDK's sampler for a request that starts its trace here."""
    from opentelemetry.sdk.trace import sampling

    chosen: Any = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }[name]
    return chosen


def _root_rule(sampler: Any) -> Callable[[str], bool]:
    """The root sampler's decision for a trace id, by its own rule and figures: the ratio
    sampler's comparison of the id's low 64 bits with its `bound`, the static samplers'
    one answer. Its `should_sample` builds a SamplingResult and looks up the current span
    on every call: 1.1 us a request, against 0.16 for the rule (timeit)."""
    from opentelemetry.sdk.trace import sampling

    if isinstance(sampler, sampling.TraceIdRatioBased):
        limit, bound = sampler.TRACE_ID_LIMIT, sampler.bound
        return lambda trace_id: int(trace_id, 16) & limit < bound
    decided = bool(sampler.should_sample(None, 1, "").decision.is_sampled())
    return lambda _: decided


def _pairs(text: str) -> list[tuple[str, str]]:
    """`key=value,key=value` as OpenTelemetry's variables write them (values URL-decoded)."""
    from urllib.parse import unquote

    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            pairs.append((key.strip(), unquote(value.strip())))
    return pairs
