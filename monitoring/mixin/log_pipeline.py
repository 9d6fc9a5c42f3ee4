"""The log pipeline, defined once: discovery relabeling and Glassbox's stages, rendered for
Promtail (Kubernetes and compose), the Promtail chart and Grafana Alloy (compose and chart).

Labels stay low-cardinality (namespace, app, pod, container, level); request_id, trace_id
and logger go to structured metadata, never labels: one stream per request id would
overwhelm Loki's index, and `{app="glassbox"} | request_id="…"` (or `trace_id="…"`) finds
them without a parser. Alloy's
configuration language has no YAML form, so its text is rendered here from the same data;
`make monitoring` writes all five files and its `--check` test fails on a hand edit.
"""

from typing import Any

from monitoring.mixin import config as c

LOKI_LOCAL = "http://loki:3100/loki/api/v1/push"  # the compose service
LOKI_CLUSTER = "http://loki-gateway.monitoring.svc/loki/api/v1/push"  # the Loki chart's gateway

JSON_KEYS = ("level", "logger", "request_id", "trace_id", "timestamp")
LABELS = ("level",)
STRUCTURED_METADATA = ("request_id", "trace_id", "logger")
# Labels the collectors add on their own and the contract leaves out: the file tailer sets
# `filename` (a new stream at every log rotation, 0.log, 1.log, ...) and the CRI stage sets
# `stream` (stdout and stderr as two streams of one container). Found by the real-binary
# tests against Promtail 3.5.1; dropped last, for every stream the collector ships.
DROPPED_LABELS = ("filename", "stream")

Rule = dict[str, Any]

KUBERNETES_RELABELING: list[Rule] = [
    # Only scheduled, running containers.
    {
        "source_labels": ["__meta_kubernetes_pod_phase"],
        "action": "drop",
        "regex": "Pending|Succeeded|Failed|Unknown",
    },
    {
        "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "target_label": "app",
    },
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
    # Where the kubelet writes this container's log files.
    {
        "source_labels": ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"],
        "separator": "/",
        "target_label": "__path__",
        "replacement": "/var/log/pods/*$1/*.log",
    },
]
# Compose: app and container are the compose service, namespace the compose project.
DOCKER_RELABELING: list[Rule] = [
    {
        "source_labels": ["__meta_docker_container_label_com_docker_compose_service"],
        "target_label": "app",
    },
    {
        "source_labels": ["__meta_docker_container_label_com_docker_compose_project"],
        "target_label": "namespace",
    },
    {"source_labels": ["__meta_docker_container_name"], "regex": "/(.*)", "target_label": "pod"},
    {
        "source_labels": ["__meta_docker_container_label_com_docker_compose_service"],
        "target_label": "container",
    },
]


def glassbox_stages() -> list[dict[str, Any]]:
    """Promtail's stages for Glassbox's JSON lines (the reference the Alloy text follows)."""
    return [
        {"json": {"expressions": {key: key for key in JSON_KEYS}}},
        {"timestamp": {"source": "timestamp", "format": "RFC3339Nano"}},
        {"labels": dict.fromkeys(LABELS)},
        {"structured_metadata": dict.fromkeys(STRUCTURED_METADATA)},
    ]


def _match() -> dict[str, Any]:
    return {"match": {"selector": c.LOG_SELECTOR, "stages": glassbox_stages()}}


def _labeldrop() -> dict[str, Any]:
    return {"labeldrop": list(DROPPED_LABELS)}


def promtail_kubernetes() -> dict[str, Any]:
    return {
        "server": {"http_listen_port": 9080, "grpc_listen_port": 0, "log_level": "info"},
        "positions": {"filename": "/run/promtail/positions.yaml"},
        "clients": [{"url": LOKI_LOCAL}],
        "scrape_configs": [
            {
                "job_name": "kubernetes-pods",
                "kubernetes_sd_configs": [{"role": "pod"}],
                "relabel_configs": KUBERNETES_RELABELING,
                # containerd / CRI-O lines are "<time> <stream> <P|F> <log line>".
                "pipeline_stages": [{"cri": {}}, _match(), _labeldrop()],
            }
        ],
    }


def promtail_compose() -> dict[str, Any]:
    return {
        "server": {"http_listen_port": 9080, "grpc_listen_port": 0},
        "positions": {"filename": "/tmp/positions.yaml"},  # noqa: S108 (the container's own /tmp)
        "clients": [{"url": LOKI_LOCAL}],
        "scrape_configs": [
            {
                "job_name": "docker",
                "docker_sd_configs": [
                    {"host": "unix:///var/run/docker.sock", "refresh_interval": "5s"}
                ],
                "relabel_configs": DOCKER_RELABELING,
                "pipeline_stages": [_match(), _labeldrop()],
            }
        ],
    }


def promtail_chart_values() -> dict[str, Any]:
    """The Promtail chart's own relabeling sets app, namespace, pod and container."""
    return {
        "config": {
            "clients": [{"url": LOKI_CLUSTER}],
            "snippets": {"pipelineStages": [{"cri": {}}, _match(), _labeldrop()]},
        }
    }


# --- Alloy ------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attributes(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """`key = value` lines with the equals signs aligned, as `alloy fmt` writes them."""
    width = max(len(key) for key, _ in pairs)
    return [f"{indent}{key.ljust(width)} = {value}" for key, value in pairs]


def _alloy_relabel(name: str, targets: str, rules: list[Rule]) -> list[str]:
    lines = [f'discovery.relabel "{name}" {{', f"  targets = {targets}", ""]
    for rule in rules:
        order = ("source_labels", "separator", "regex", "action", "target_label", "replacement")
        pairs = [(key, _value(rule[key])) for key in order if key in rule]
        lines += ["  rule {", *_attributes(pairs, "    "), "  }"]
    return [*lines, "}"]


def _alloy_process(cri: bool) -> list[str]:
    expressions = _attributes([(key, _value(key) + ",") for key in JSON_KEYS], "        ")
    labels = ", ".join(f'{label} = ""' for label in LABELS)
    metadata = ", ".join(f'{key} = ""' for key in STRUCTURED_METADATA)
    return [
        'loki.process "glassbox" {',
        *(["  stage.cri {}", ""] if cri else []),
        "  stage.match {",
        f"    selector = {_value(c.LOG_SELECTOR)}",
        "",
        "    stage.json {",
        "      expressions = {",
        *expressions,
        "      }",
        "    }",
        "    stage.timestamp {",
        '      source = "timestamp"',
        '      format = "RFC3339Nano"',
        "    }",
        "    stage.labels {",
        f"      values = {{ {labels} }}",
        "    }",
        "    stage.structured_metadata {",
        f"      values = {{ {metadata} }}",
        "    }",
        "  }",
        "",
        "  stage.label_drop {",
        f"    values = {_value(list(DROPPED_LABELS))}",
        "  }",
        "",
        "  forward_to = [loki.write.default.receiver]",
        "}",
    ]


def _alloy_write(url: str) -> list[str]:
    return ['loki.write "default" {', "  endpoint {", f"    url = {_value(url)}", "  }", "}"]


def alloy_compose() -> str:
    blocks = [
        [
            'discovery.docker "containers" {',
            *_attributes(
                [("host", _value("unix:///var/run/docker.sock")), ("refresh_interval", '"5s"')],
                "  ",
            ),
            "}",
        ],
        _alloy_relabel("containers", "discovery.docker.containers.targets", DOCKER_RELABELING),
        [
            'loki.source.docker "containers" {',
            *_attributes(
                [
                    ("host", _value("unix:///var/run/docker.sock")),
                    ("targets", "discovery.docker.containers.targets"),
                    ("relabel_rules", "discovery.relabel.containers.rules"),
                    ("forward_to", "[loki.process.glassbox.receiver]"),
                ],
                "  ",
            ),
            "}",
        ],
        _alloy_process(cri=False),
        _alloy_write(LOKI_LOCAL),
    ]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def alloy_kubernetes() -> str:
    blocks = [
        [
            'discovery.kubernetes "pods" {',
            '  role = "pod"',
            "  selectors {",
            '    role  = "pod"',
            '    field = "spec.nodeName=" + coalesce(sys.env("HOSTNAME"), constants.hostname)',
            "  }",
            "}",
        ],
        _alloy_relabel("pods", "discovery.kubernetes.pods.targets", KUBERNETES_RELABELING),
        ['local.file_match "pods" {', "  path_targets = discovery.relabel.pods.output", "}"],
        [
            'loki.source.file "pods" {',
            *_attributes(
                [
                    ("targets", "local.file_match.pods.targets"),
                    ("forward_to", "[loki.process.glassbox.receiver]"),
                ],
                "  ",
            ),
            "}",
        ],
        _alloy_process(cri=True),
        _alloy_write(LOKI_CLUSTER),
    ]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def alloy_chart_values() -> dict[str, Any]:
    return {
        "alloy": {
            "mounts": {"varlog": True},
            "configMap": {"create": True, "content": alloy_kubernetes()},
        }
    }
