"""Promtail, Loki and Grafana provisioning, checked against the service's real log lines.

Promtail, Loki and Grafana do not run here: these tests check the configs'
structure against the documented options, and check the pieces that touch our
log format (json stage keys, derived-field regex) against lines the service
really wrote.
"""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from monitoring.mixin.log_pipeline import STRUCTURED_METADATA
from tests.external.monitoring.pipelines import glassbox_stages, promtail_job
from tests.support.service import ROOT, VALID_FLOWER, Service

MONITORING = ROOT / "monitoring"
LOW_CARDINALITY = {"namespace", "app", "pod", "container", "level", "job"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_promtail_discovers_pods_and_sets_low_cardinality_labels() -> None:
    job = promtail_job()
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    targets = {rule["target_label"] for rule in job["relabel_configs"] if "target_label" in rule}
    assert {"namespace", "app", "pod", "container", "__path__"} <= targets
    assert targets - {"__path__"} <= LOW_CARDINALITY


def test_promtail_keeps_request_id_out_of_the_labels() -> None:
    stages = glassbox_stages()
    assert set(stages["json"]["expressions"]) >= {"level", "logger", "request_id"}
    assert set(stages["labels"]) <= LOW_CARDINALITY
    assert "request_id" not in stages["labels"]
    assert "request_id" in stages["structured_metadata"]


def test_promtail_json_keys_exist_in_the_services_real_lines(service: Service) -> None:
    service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": "promtail-1"})
    expressions = glassbox_stages()["json"]["expressions"]
    lines = service.log_lines()
    for line in lines:
        for key in ("level", "logger", "timestamp"):
            assert expressions[key] in line, (key, line)
    (access,) = service.lines_for("promtail-1")
    assert access[expressions["request_id"]] == "promtail-1"


def test_loki_is_a_single_binary_with_retention() -> None:
    loki = load(MONITORING / "loki" / "loki.yaml")
    assert loki["auth_enabled"] is False
    assert loki["common"]["ring"]["kvstore"]["store"] == "inmemory"
    assert loki["common"]["replication_factor"] == 1
    (schema,) = loki["schema_config"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == (
        "tsdb",
        "v13",
        "filesystem",
    )
    assert loki["compactor"]["retention_enabled"] is True
    # Loki 3 refuses to start with retention on and no delete request store.
    assert loki["compactor"]["delete_request_store"] == "filesystem"
    assert loki["limits_config"]["retention_period"] == "168h"
    assert loki["limits_config"]["allow_structured_metadata"] is True


def datasources() -> dict[str, dict[str, Any]]:
    config = load(MONITORING / "grafana" / "provisioning" / "datasources" / "glassbox.yaml")
    return {source["uid"]: source for source in config["datasources"]}


def test_grafana_gets_prometheus_loki_tempo_and_alertmanager() -> None:
    sources = datasources()
    assert {uid: source["type"] for uid, source in sources.items()} == {
        "prometheus": "prometheus",
        "loki": "loki",
        "tempo": "tempo",
        "alertmanager": "alertmanager",
    }
    assert sources["alertmanager"]["jsonData"]["implementation"] == "prometheus"


def derived_fields() -> dict[str, dict[str, Any]]:
    return {field["name"]: field for field in datasources()["loki"]["jsonData"]["derivedFields"]}


def test_loki_derived_fields_link_a_real_request_id_and_trace_id(service: Service) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"X-Request-ID": "derived-42", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    service.post("/predict", VALID_FLOWER, headers=headers)
    service.lines_for("derived-42")  # waits for the access line
    (raw,) = [line for line in service.raw_lines() if '"derived-42"' in line]

    fields = derived_fields()
    match = re.search(fields["request_id"]["matcherRegex"], raw)
    assert match is not None
    assert match.group(1) == "derived-42"
    assert fields["request_id"]["datasourceUid"] == "loki"
    # request_id is structured metadata: filtered with no parser in front.
    assert fields["request_id"]["url"] == '{app="glassbox"} | request_id="${__value.raw}"'
    # A trace id opens its trace in Tempo (the datasource takes the bare id as its query).
    match = re.search(fields["trace_id"]["matcherRegex"], raw)
    assert match is not None
    assert match.group(1) == trace_id
    assert (fields["trace_id"]["datasourceUid"], fields["trace_id"]["url"]) == (
        "tempo",
        "${__value.raw}",
    )


def test_a_span_opens_every_log_line_of_its_trace() -> None:
    """Tempo → Loki: the query a span opens is a structured-metadata filter on trace_id,
    which the log pipeline keeps (monitoring/mixin/log_pipeline.py)."""
    logs = datasources()["tempo"]["jsonData"]["tracesToLogsV2"]
    assert logs["datasourceUid"] == "loki"
    assert logs["query"] == '{app="glassbox"} | trace_id="${__trace.traceId}"'
    assert "trace_id" in STRUCTURED_METADATA


def test_dashboard_provider_loads_the_dashboards_folder() -> None:
    config = load(MONITORING / "grafana" / "provisioning" / "dashboards" / "glassbox.yaml")
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("/glassbox")


def explore_query(url: str) -> str:
    """The LogQL query a Grafana Explore link opens."""
    panes = json.loads(parse_qs(urlsplit(url).query)["panes"][0])
    ((pane,),) = [list(panes.values())]
    (query,) = pane["queries"]
    assert pane["datasource"] == query["datasource"]["uid"] == "loki"
    expr: str = query["expr"]
    return expr


def test_a_latency_exemplar_opens_the_lines_of_its_request_and_its_trace() -> None:
    destinations = {
        d["name"]: d for d in datasources()["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    }
    # The exemplar labels the service sets (app/observability/exemplars.py).
    assert set(destinations) == {"request_id", "trace_id"}
    assert explore_query(destinations["request_id"]["url"]) == derived_fields()["request_id"]["url"]
    assert destinations["trace_id"]["datasourceUid"] == "tempo"


def test_loki_ruler_reads_the_shipped_log_alerts_wherever_loki_runs() -> None:
    """The ruler's local directory holds one folder per tenant ("fake" with auth off):
    compose and the Helm stack must mount monitoring/loki/rules/ exactly there."""
    local = load(MONITORING / "loki" / "loki.yaml")["ruler"]
    assert local["storage"]["type"] == "local"
    tenant_dir = f"{local['storage']['local']['directory']}/fake"
    compose = load(ROOT / "compose.yaml")["services"]["loki"]["volumes"]
    assert f"./monitoring/loki/rules:{tenant_dir}:ro" in compose
    assert local["alertmanager_url"] == "http://alertmanager:9093"  # the compose service

    stack = load(ROOT / "helm" / "stack" / "loki.yaml")
    assert stack["loki"]["rulerConfig"]["storage"] == local["storage"]
    (mount,) = stack["singleBinary"]["extraVolumeMounts"]
    (volume,) = stack["singleBinary"]["extraVolumes"]
    assert (mount["name"], mount["mountPath"]) == (volume["name"], tenant_dir)
    script = (ROOT / "scripts" / "stack.sh").read_text()
    assert f"create configmap {volume['configMap']['name']}" in script
    assert "--from-file=monitoring/loki/rules/" in script


def test_loki_config_names_its_storage_clients_for_newer_releases() -> None:
    """Loki past 3.6 turns the Thanos clients on by default and ignores the filesystem
    paths; both configs say which clients they mean (docs/monitoring.md)."""
    assert load(MONITORING / "loki" / "loki.yaml")["storage_config"]["use_thanos_objstore"] is False
    stack = load(ROOT / "helm" / "stack" / "loki.yaml")["loki"]
    assert stack["storage_config"]["use_thanos_objstore"] is False
