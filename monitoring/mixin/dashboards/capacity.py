"""Glassbox / Capacity: replicas, HPA, CPU and memory against requests and limits."""

from typing import Any

from monitoring.mixin import config
from monitoring.mixin.dashboards.panels import (
    PROMETHEUS_VARS,
    RATE,
    SERVICE,
    dashboard,
    target,
    timeseries,
)


def build() -> dict[str, Any]:
    pods = f'namespace=~"$namespace", container="{config.CONTAINER}"'
    hpa = f'namespace=~"$namespace", horizontalpodautoscaler=~"{config.WORKLOAD_NAME_REGEX}"'
    deploy = f'namespace=~"$namespace", deployment=~"{config.WORKLOAD_NAME_REGEX}"'
    panels = [
        timeseries(
            "Replicas",
            "Desired and available replicas of the Deployment (kube-state-metrics).",
            target(f"sum(kube_deployment_spec_replicas{{{deploy}}})", "desired"),
            target(f"sum(kube_deployment_status_replicas_available{{{deploy}}})", "available"),
        ),
        timeseries(
            "HPA current / desired / min / max",
            "When current sits at max, GlassboxHpaMaxedOut fires (kube-state-metrics).",
            target(
                f"sum(kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})", "current"
            ),
            target(
                f"sum(kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}})", "desired"
            ),
            target(f"sum(kube_horizontalpodautoscaler_spec_min_replicas{{{hpa}}})", "min"),
            target(f"sum(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})", "max"),
        ),
        timeseries(
            "CPU per pod against requests and limits",
            "cAdvisor usage; the HPA scales on usage / requests.",
            target(
                f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[{RATE}]))",
                "{{pod}}",
            ),
            target(
                f'max(kube_pod_container_resource_requests{{{pods}, resource="cpu"}})', "request"
            ),
            target(f'max(kube_pod_container_resource_limits{{{pods}, resource="cpu"}})', "limit"),
            unit="cores",
        ),
        timeseries(
            "Memory per pod against requests and limits",
            "cAdvisor working set: what the OOM killer compares with the limit.",
            target(f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "{{pod}}"),
            target(
                f'max(kube_pod_container_resource_requests{{{pods}, resource="memory"}})', "request"
            ),
            target(
                f'max(kube_pod_container_resource_limits{{{pods}, resource="memory"}})', "limit"
            ),
            unit="bytes",
        ),
        timeseries(
            "Container restarts (1h)",
            "Restarts per pod over the last hour (kube-state-metrics).",
            target(
                f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{pods}}}[1h]))",
                "{{pod}}",
            ),
        ),
        timeseries(
            "Requests per second per pod",
            "Load each pod serves, from the service's own metrics.",
            target(f"sum by (pod) (rate(http_requests_total{{{SERVICE}}}[{RATE}]))", "{{pod}}"),
            unit="reqps",
        ),
    ]
    return dashboard(
        "glassbox-capacity",
        "Glassbox / Capacity",
        "Replicas, HPA, CPU and memory against requests and limits, restarts.",
        panels,
        PROMETHEUS_VARS,
    )
