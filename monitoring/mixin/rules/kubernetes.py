"""Alerts on the workload from kube-state-metrics: crash loops, restarts, a maxed-out HPA."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert


def kubernetes_alerts() -> list[Rule]:
    container = f'container="{c.CONTAINER}"'
    return [
        alert(
            "GlassboxPodCrashLooping",
            "max_over_time(kube_pod_container_status_waiting_reason"
            f'{{{container}, reason="CrashLoopBackOff"}}[5m]) >= 1',
            c.CRASHLOOP_FOR,
            "warning",
            "A Glassbox pod is crash looping.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) has been in "
            f"CrashLoopBackOff for {c.CRASHLOOP_FOR}.",
        ),
        alert(
            "GlassboxPodRestarting",
            f"increase(kube_pod_container_status_restarts_total{{{container}}}[1h]) "
            f"> {c.RESTARTS_PER_HOUR}",
            "0m",
            "warning",
            "A Glassbox container restarts repeatedly.",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} "
            "restarted {{ $value | humanize }} times in the last hour.",
        ),
        alert(
            "GlassboxHpaMaxedOut",
            "kube_horizontalpodautoscaler_status_current_replicas"
            f'{{horizontalpodautoscaler=~"{c.WORKLOAD_NAME_REGEX}"}}\n'
            "== on (namespace, horizontalpodautoscaler)\n"
            "kube_horizontalpodautoscaler_spec_max_replicas"
            f'{{horizontalpodautoscaler=~"{c.WORKLOAD_NAME_REGEX}"}}',
            c.HPA_MAXED_FOR,
            "warning",
            "Glassbox's HPA is pinned at its maximum replicas.",
            "HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run at its "
            f"maximum of {{{{ $value }}}} replicas for {c.HPA_MAXED_FOR}: load may exceed capacity.",
        ),
    ]
