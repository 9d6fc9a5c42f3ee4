"""Traces going missing: spans the SDK dropped or the collector refused (docs/tracing.md)."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert, sel


def tracing_alerts() -> list[Rule]:
    """Counted by the SDK's own processor and exporter metrics, which /metrics surfaces:
    `error_type` is empty for a span handed on or sent, the failure's kind otherwise."""
    # Both counters in one selector: either alone may have no failed series at all, and a
    # sum of two vectors is empty where one side is. A span is counted by at most one.
    counters = "otel_sdk_processor_span_processed_total|otel_sdk_exporter_span_exported_total"
    lost = sel(f'__name__=~"{counters}"', 'error_type!=""')
    return [
        alert(
            "GlassboxTraceSpansLost",
            f"sum by (job) (rate({lost}[5m])) > 0",
            c.SPANS_LOST_FOR,
            "warning",
            "Glassbox's spans are not reaching the trace collector.",
            "{{ $labels.job }} lost {{ $value | humanize }} spans per second over 5 minutes, "
            "dropped from the SDK's full queue or refused by the collector "
            "(OTEL_EXPORTER_OTLP_ENDPOINT): requests are served as usual, but their traces "
            "are missing or incomplete in Tempo.",
        ),
    ]
