"""The Helm chart, rendered by the real helm and checked against Kubernetes schemas."""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.__main__ import GRACEFUL_SHUTDOWN_SECONDS
from app.core.config import Settings
from app.main import create_app
from monitoring.mixin.__main__ import outputs
from tests.external.helm.chart import (
    CHART,
    KUBERNETES_VERSIONS,
    SCENARIOS,
    TEST_PUBLIC_KEY,
    container,
    env_of,
    helm,
    of_kind,
    only,
    render,
    template_args,
)
from tests.external.monitoring.queries import promql_error
from tests.support.service import ROOT, Service

# Custom resources: no schema in kubernetes-validate; checked by the tests below instead.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
MONITORING = CHART / "ci" / "monitoring-values.yaml"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_helm_lint_strict(scenario: str) -> None:
    values = SCENARIOS[scenario]
    key = f"config.modelPublicKey={TEST_PUBLIC_KEY}"
    result = helm(
        "lint", "--strict", str(CHART), "--set", key, *(["-f", str(values)] if values else [])
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_rendered_manifests_match_kubernetes_schemas(scenario: str, version: str) -> None:
    for doc in render(SCENARIOS[scenario]):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert doc["kind"] in CRD_KINDS, f"no schema for {doc['kind']}"


def test_default_release_has_the_expected_resources() -> None:
    kinds = sorted(doc["kind"] for doc in render())
    assert kinds == sorted(
        ["ServiceAccount", "Service", "Deployment", "HorizontalPodAutoscaler",
         "PodDisruptionBudget", "Pod"]
    )  # fmt: skip


def test_hpa_scales_the_deployment_on_cpu() -> None:
    docs = render()
    hpa, deployment = only(docs, "HorizontalPodAutoscaler"), only(docs, "Deployment")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (cpu,) = hpa["spec"]["metrics"]
    assert cpu["resource"]["name"] == "cpu"
    assert cpu["resource"]["target"]["averageUtilization"] == 70
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_probes_hit_routes_the_service_has(tmp_path: Path) -> None:
    main = container(render())
    routes = set(create_app(Settings(MODEL_DIR=tmp_path)).openapi()["paths"])
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["httpGet"]["path"] in routes
        assert main[probe]["httpGet"]["port"] == "http"


def test_container_port_is_the_port_the_service_listens_on() -> None:
    docs = render(None, "containerPort=9000")
    main = container(docs)
    (port,) = main["ports"]
    assert port == {"name": "http", "containerPort": 9000, "protocol": "TCP"}
    assert env_of(main)["PORT"] == "9000"
    (service_port,) = only(docs, "Service")["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    pod = only(docs, "Deployment")["spec"]["template"]["metadata"]
    assert pod["annotations"]["prometheus.io/port"] == "9000"


def test_values_map_onto_every_setting() -> None:
    main = container(render(None, "config.webConcurrency=3", "config.logLevel=DEBUG"))
    env = env_of(main)
    assert set(Settings.model_fields) <= set(env), "every Settings field is set by the chart"
    assert env["WEB_CONCURRENCY"] == "3"
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["HOST"] == "0.0.0.0"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/var/run/glassbox/metrics"
    # The values the chart passes are values the service accepts.
    Settings.model_validate({k: v for k, v in env.items() if k in Settings.model_fields})


def test_single_worker_does_not_switch_to_multiprocess_metrics() -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(container(render()))


def test_pods_are_locked_down_and_sized() -> None:
    docs = render()
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    main = container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert only(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsUser"] != 0
    assert set(main["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(main["resources"]["limits"])
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert {"/tmp", "/var/run/glassbox/metrics"} <= mounts
    assert all("emptyDir" in v for v in pod["volumes"])


def test_rollouts_drain_in_flight_requests() -> None:
    docs = render()
    deployment = only(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    drain = int(env_of(container(docs))["DRAIN_SECONDS"])
    assert drain > 0
    # The drain plus uvicorn's graceful shutdown fit in the grace period.
    assert pod["terminationGracePeriodSeconds"] >= drain + GRACEFUL_SHUTDOWN_SECONDS
    longer = render(None, "config.drainSeconds=40")
    assert (
        only(longer, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        >= 40 + GRACEFUL_SHUTDOWN_SECONDS
    )
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert only(docs, "PodDisruptionBudget")["spec"]["selector"] == deployment["spec"]["selector"]


def test_service_monitor_selects_the_service_port_and_kube_prometheus_stack() -> None:
    docs = render(MONITORING)
    monitor, service = only(docs, "ServiceMonitor"), only(docs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # job = the Service's app.kubernetes.io/name label = "glassbox", what the rules select.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "glassbox"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ml"]}


def test_prometheus_rules_are_exactly_the_monitoring_rules() -> None:
    rules = of_kind(render(MONITORING), "PrometheusRule")
    shipped = sorted((ROOT / "monitoring" / "prometheus" / "rules").glob("*.yaml"))
    assert len(rules) == len(shipped)
    rendered_groups = [group for rule in rules for group in rule["spec"]["groups"]]
    source_groups = [g for path in shipped for g in yaml.safe_load(path.read_text())["groups"]]
    assert sorted(rendered_groups, key=str) == sorted(source_groups, key=str)
    for rule in rules:
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_dashboard_configmaps_carry_exactly_the_dashboards() -> None:
    maps = of_kind(render(MONITORING), "ConfigMap")
    dashboards = {
        name: text
        for cm in maps
        if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
        for name, text in cm["data"].items()
    }
    sources = {p.name: p.read_text() for p in (ROOT / "dashboards").glob("*.json")}
    assert set(dashboards) == set(sources)
    for name, text in dashboards.items():
        assert text + "\n" == sources[name], name
        assert json.loads(text)["uid"] == json.loads(sources[name])["uid"]


def test_chart_files_are_generated_by_the_mixin() -> None:
    """The chart's rules and dashboards are outputs of `make monitoring`, so the generator's
    staleness test (tests/external/monitoring/test_rules.py) covers them; nothing else lives
    there."""
    generated = {path for path in outputs() if CHART in path.parents}
    on_disk = {p for p in (CHART / "files").rglob("*") if p.is_file()}
    assert generated == on_disk


def datasource_documents(*sets: str) -> dict[str, Any]:
    (cm,) = [
        c for c in of_kind(render(MONITORING, *sets), "ConfigMap")
        if c["metadata"]["labels"].get("grafana_datasource") == "1"
    ]  # fmt: skip
    return {name: yaml.safe_load(text) for name, text in cm["data"].items()}


def provisioned_datasource(uid: str) -> dict[str, Any]:
    path = ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "glassbox.yaml"
    (source,) = [d for d in yaml.safe_load(path.read_text())["datasources"] if d["uid"] == uid]
    assert isinstance(source, dict)
    return source


TEMPO = "grafana.datasources.tempoUrl=http://tempo.monitoring.svc:3200"


def test_datasource_configmap_links_request_ids_like_the_provisioning() -> None:
    (document,) = datasource_documents().values()  # no Prometheus, no Tempo unless asked
    (loki,) = document["datasources"]
    provisioned = provisioned_datasource("loki")["jsonData"]["derivedFields"]
    assert loki["jsonData"]["derivedFields"] == provisioned[:1]  # request_id only
    # With Tempo, trace ids link to it as in the compose provisioning, and spans to logs.
    documents = datasource_documents(TEMPO)
    (loki,) = documents["glassbox-loki.yaml"]["datasources"]
    assert loki["jsonData"]["derivedFields"] == provisioned
    (tempo,) = documents["glassbox-tempo.yaml"]["datasources"]
    assert tempo["jsonData"] == provisioned_datasource("tempo")["jsonData"]
    assert tempo["uid"] == "tempo"


def test_prometheus_datasource_links_exemplars_like_the_provisioning() -> None:
    url = "http://prometheus.monitoring.svc:9090"
    documents = datasource_documents(f"grafana.datasources.prometheusUrl={url}", TEMPO)
    (prometheus,) = documents["glassbox-prometheus.yaml"]["datasources"]
    assert (prometheus["type"], prometheus["url"]) == ("prometheus", url)
    provisioned = provisioned_datasource("prometheus")["jsonData"]
    assert (
        prometheus["jsonData"]["exemplarTraceIdDestinations"]
        == provisioned["exemplarTraceIdDestinations"]
    )


def test_keda_replaces_the_cpu_hpa() -> None:
    docs = render(CHART / "ci" / "keda-values.yaml")
    assert of_kind(docs, "HorizontalPodAutoscaler") == []
    scaled = only(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == only(docs, "Deployment")["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    assert promql_error(query) is None
    assert 'job="glassbox"' in query
    assert 'namespace="ml"' in query


def test_ingress_and_network_policy_point_at_the_http_port() -> None:
    docs = render(CHART / "ci" / "ingress-networkpolicy-values.yaml")
    (rule,) = only(docs, "Ingress")["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": only(docs, "Service")["metadata"]["name"], "port": {"name": "http"}}
    policy = only(docs, "NetworkPolicy")["spec"]
    assert policy["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert policy["egress"] == []


def test_the_default_ingress_routes_only_the_prediction_endpoints() -> None:
    (rule,) = only(render(None, "ingress.enabled=true"), "Ingress")["spec"]["rules"]
    paths = [(p["path"], p["pathType"]) for p in rule["http"]["paths"]]
    assert paths == [("/predict", "Prefix")]  # Prefix matches whole path segments


def test_helm_test_pod_predicts_the_served_models_own_example(service: Service) -> None:
    """The test pod's script, run for real against the service with only its address
    changed: it reads /model's example, posts it, and checks the answer."""
    (pod,) = [
        d
        for d in of_kind(render(), "Pod")
        if d["metadata"]["annotations"].get("helm.sh/hook") == "test"
    ]
    script = pod["spec"]["containers"][0]["args"][0]
    assert 'base = "http://glassbox:80"' in script
    assert "sepal" not in script  # nothing of one model is written into the chart
    assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    local = script.replace('"http://glassbox:80"', f'"{service.url}"')
    result = subprocess.run(
        [sys.executable, "-c", local], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("predict ok: ")
    (line,) = service.lines_for("helm-test")
    assert line["status"] == 200


@pytest.mark.parametrize(
    "bad",
    [
        "config.logLevel=LOUD",
        "config.maxBatchSize=0",
        "config.webConcurrency=100",
        "autoscaling.targetCPUUtilizationPercentage=150",
        "replicaCount=0",
        "image.pullPolicy=Sometimes",
        "service.type=ExternalName",
        "replicaz=3",
        "metrics.serviceMonitor.interval=soon",
        "nameOverride=classifier",  # would change the scrape job and the Loki app label
    ],
)
def test_schema_rejects_bad_values(bad: str) -> None:
    result = helm(*template_args(None, bad))
    assert result.returncode != 0
    assert "schema" in result.stderr


def test_fullname_override_renames_resources_but_keeps_job_and_app_labels() -> None:
    docs = render(MONITORING, "fullnameOverride=iris-api")
    service = only(docs, "Service")
    assert service["metadata"]["name"] == "iris-api"
    monitor = only(docs, "ServiceMonitor")
    # The job comes from this label, as every rule and dashboard expects; so does Loki's app.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "glassbox"
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/name"] == "glassbox"


def test_notes_tell_how_to_call_and_find_logs(tmp_path: Path) -> None:
    key = f"config.modelPublicKey={TEST_PUBLIC_KEY}"
    result = helm(
        "install", "glassbox", str(CHART), "--namespace", "ml", "--dry-run=client", "--set", key
    )
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl --namespace ml port-forward svc/glassbox 8000:80" in notes
    assert "curl -s -X POST localhost:8000/predict" in notes
    assert '} | request_id="' in notes
    assert "helm test glassbox" in notes


def test_readme_documents_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    for key, value in values.items():
        assert f"`{key}" in readme, key
        if isinstance(value, dict) and key not in {
            "podSecurityContext",
            "securityContext",
            "resources",
        }:
            for child in value:
                assert re.search(rf"`({key})?\.{child}`|`{key}\.{child}", readme), f"{key}.{child}"


def test_a_metrics_port_is_what_prometheus_scrapes_and_the_service_exposes() -> None:
    docs = render(
        None,
        "metrics.port=9100",
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
    )
    main = container(docs)
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in main["ports"]
    assert env_of(main)["METRICS_PORT"] == "9100"
    service_ports = {p["name"]: p["targetPort"] for p in only(docs, "Service")["spec"]["ports"]}
    assert service_ports == {"http": "http", "metrics": "metrics"}
    (endpoint,) = only(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    pod = only(docs, "Deployment")["spec"]["template"]["metadata"]
    assert pod["annotations"]["prometheus.io/port"] == "9100"
    ports = only(docs, "NetworkPolicy")["spec"]["ingress"][0]["ports"]
    assert {"port": "metrics", "protocol": "TCP"} in ports


ENVIRONMENTS = ROOT / "helm" / "environments"


@pytest.mark.parametrize(
    "values", [None, ENVIRONMENTS / "staging.yaml", ENVIRONMENTS / "production.yaml"], ids=str
)
def test_a_release_without_a_model_key_is_refused(values: Path | None) -> None:
    """Secure by default: no public key, no release, unless unsigned models are allowed
    in so many words (the dev environment does; staging and production do not)."""
    result = helm(*template_args(values, signed=False))
    assert result.returncode != 0
    assert "config.modelPublicKey is not set" in result.stderr
    assert "allowUnsignedModels=true" in result.stderr


CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_each_ci_values_file_renders_and_lints_alone(values: Path) -> None:
    """chart-testing lints and installs the chart once per `ci/*-values.yaml`, with that
    file and nothing else (`helm lint --values`, `helm install --values` under a generated
    release name): no `--set`, so each file carries everything the chart requires."""
    lint = helm("lint", "--strict", str(CHART), "--values", str(values))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    release = f"glassbox-{values.stem[:20]}"
    args = ["template", release, str(CHART), "--namespace", "ct", "--values", str(values)]
    rendered = helm(*args)
    assert rendered.returncode == 0, rendered.stderr
    docs = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert only(docs, "Deployment")["metadata"]["name"].startswith(release)
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert doc["kind"] in CRD_KINDS, f"no schema for {doc['kind']}"


def test_no_install_command_in_the_docs_uses_a_ci_values_file() -> None:
    """The ci files allow unsigned models (chart-testing installs the unsigned e2e image):
    a user copying an install command must never get that by way of one."""
    docs = [CHART / "README.md", ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in docs:
        assert not re.search(r"-f\s+\S*ci/\S+-values\.yaml", path.read_text()), path


def test_only_the_dev_environment_allows_unsigned_models() -> None:
    allowed = {
        path.stem: yaml.safe_load(path.read_text()).get("allowUnsignedModels", False)
        for path in ENVIRONMENTS.glob("*.yaml")
    }
    assert allowed == {"dev": True, "staging": False, "production": False}
    dev = container(render(ENVIRONMENTS / "dev.yaml", signed=False))
    assert env_of(dev)["MODEL_PUBLIC_KEY"] == ""


def test_the_model_key_reaches_the_service() -> None:
    env = env_of(container(render(ENVIRONMENTS / "production.yaml")))
    assert env["MODEL_PUBLIC_KEY"] == TEST_PUBLIC_KEY
    assert Settings.model_validate({"MODEL_PUBLIC_KEY": env["MODEL_PUBLIC_KEY"]})


REGISTRY = CHART / "ci" / "registry-values.yaml"


def test_a_registry_release_reaches_the_tracking_server_with_secrets_from_a_secret() -> None:
    docs = render(REGISTRY)
    main = container(docs)
    env = {item["name"]: item for item in main["env"]}
    assert env["MODEL_URI"]["value"] == "models:/churn@champion"
    assert env["MLFLOW_TRACKING_URI"]["value"].startswith("http://mlflow.")
    assert env["MODEL_POLL_SECONDS"]["value"] == "60"
    assert env["MODEL_SIGNING_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "glassbox-mlflow"
    assert main["envFrom"] == [{"secretRef": {"name": "glassbox-mlflow"}}]  # the token
    # No value can carry a credential: the schema knows none.
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert not {"token", "password", "signingKey"} & set(
        schema["properties"]["registry"]["properties"]
    )
    # Fetched versions go to a writable emptyDir under a read-only root filesystem.
    (cache,) = [m for m in main["volumeMounts"] if m["name"] == "model-cache"]
    assert cache["mountPath"] == env["MODEL_CACHE_DIR"]["value"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    # Egress: the tracking server and DNS, nothing else.
    (policy,) = of_kind(docs, "NetworkPolicy")
    egress = policy["spec"]["egress"]
    assert [rule["ports"][0]["port"] for rule in egress] == [5000, 53]
    settings = {
        k: v["value"] for k, v in env.items() if k in Settings.model_fields and "value" in v
    }
    assert Settings.model_validate(settings).MODEL_URI == "models:/churn@champion"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("registry.modelUri=models:/churn@champion",), "needs registry.trackingUri"),
        (
            ("registry.modelUri=models:/churn@champion", "registry.trackingUri=http://m:5000"),
            "registry.existingSecret must hold MODEL_SIGNING_KEY",
        ),
        (("registry.modelUri=churn",), "modelUri"),
    ],
)
def test_a_registry_release_missing_what_it_needs_is_refused(
    sets: tuple[str, ...], message: str
) -> None:
    result = helm(*template_args(None, *sets))
    assert result.returncode != 0
    assert message in result.stderr


def test_quality_values_reach_the_settings() -> None:
    """ci/shadow-values.yaml: a shadow candidate, sampled and redacted prediction events."""
    env = env_of(container(render(CHART / "ci" / "shadow-values.yaml")))
    settings = Settings.model_validate({k: v for k, v in env.items() if k in Settings.model_fields})
    assert str(settings.SHADOW_MODEL_DIR) == "/app/artifacts/v-candidate"
    assert (settings.SHADOW_QUEUE_SIZE, settings.FEEDBACK_MEMORY_ROWS) == (2000, 200_000)
    assert (settings.PREDICTION_LOG_SAMPLE, settings.PREDICTION_LOG_REDACT) == (0.1, "*")
    default = env_of(container(render(None)))
    assert (
        Settings.model_validate({"SHADOW_MODEL_DIR": default["SHADOW_MODEL_DIR"]}).SHADOW_MODEL_DIR
        is None
    )
    assert default["PREDICTION_LOG_SAMPLE"] == "0"


def test_the_shared_prediction_store_and_the_feedback_token_come_from_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's URL and password, and the feedback token, reach the container from
    Secrets as files in SECRETS_DIR, never as environment variables (the token generated
    once, kept across upgrades): the files, laid out as the kubelet would, are the settings
    the service reads. The policy's egress goes to the store and DNS only."""
    documents = render(CHART / "ci" / "prediction-store-values.yaml")
    app = container(documents)
    env = {item["name"]: item for item in app["env"]}
    assert not {"FEEDBACK_TOKEN", "PREDICTION_STORE_URL", "PREDICTION_STORE_PASSWORD"} & set(env)
    (mount,) = [m for m in app["volumeMounts"] if m["name"] == "secrets"]
    assert mount["mountPath"] == env["SECRETS_DIR"]["value"]
    assert mount["readOnly"] is True
    volumes = only(documents, "Deployment")["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == "secrets"]
    secrets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Secret"}
    store = {"PREDICTION_STORE_URL": "redis://valkey:6379/0", "PREDICTION_STORE_PASSWORD": "pw"}
    for source in volume["projected"]["sources"]:
        name, paths = source["secret"]["name"], [i["path"] for i in source["secret"]["items"]]
        # Only the password may be missing from its Secret.
        assert source["secret"].get("optional", False) == (paths == ["PREDICTION_STORE_PASSWORD"])
        if name in secrets:  # the generated token, kept across upgrades
            assert secrets[name]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
            data = {k: base64.b64decode(v).decode() for k, v in secrets[name]["data"].items()}
        else:  # the existing Secret the values name
            data = store
        for item in source["secret"]["items"]:
            (tmp_path / item["path"]).write_text(data[item["key"]] + "\n")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    settings = Settings()
    assert store["PREDICTION_STORE_URL"] == settings.PREDICTION_STORE_URL
    assert settings.PREDICTION_STORE_PASSWORD.get_secret_value() == "pw"
    assert len(settings.FEEDBACK_TOKEN.get_secret_value()) == 40
    (policy,) = [d for d in documents if d["kind"] == "NetworkPolicy"]
    ports = [port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])]
    assert ports == [6379, 53, 53]
    # /feedback on a port of its own, which only the label pipeline's pods may reach.
    assert env["FEEDBACK_PORT"]["value"] == "8081"
    assert {"name": "feedback", "containerPort": 8081, "protocol": "TCP"} in app["ports"]
    service_ports = {
        p["name"]: p["targetPort"] for p in only(documents, "Service")["spec"]["ports"]
    }
    assert service_ports == {"http": "http", "feedback": "feedback"}
    everyone, labellers = policy["spec"]["ingress"]
    assert [port["port"] for port in everyone["ports"]] == ["http"]
    assert labellers == {
        "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "label-pipeline"}}}],
        "ports": [{"port": "feedback", "protocol": "TCP"}],
    }
    no_peers = helm(
        *template_args(CHART / "ci" / "prediction-store-values.yaml"),
        "--set-json", "networkPolicy.feedbackFrom=[]",
    )  # fmt: skip
    assert no_peers.returncode != 0  # a rule with no peers admits everyone
    assert "feedbackFrom" in no_peers.stderr
    default = render()
    env = {item["name"]: item for item in container(default)["env"]}
    assert env["PREDICTION_STORE_URL"]["value"] == ""
    assert env["FEEDBACK_TOKEN"]["value"] == ""
    volumes = only(default, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert "secrets" not in {v["name"] for v in volumes}


def test_tracing_values_are_the_otel_variables_the_service_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ci/tracing-values.yaml: the values become the standard OTEL_* variables (the pod's
    namespace and name in the resource, expanded by the kubelet from POD_NAME, defined
    before it), which turn spans on in the service's own Settings; the policy's egress goes
    to the collector and DNS only. The headers (a collector's token) come as a file."""
    documents = render(CHART / "ci" / "tracing-values.yaml")
    app = container(documents)
    names = [item["name"] for item in app["env"]]
    assert names.index("POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")
    (pod,) = [item for item in app["env"] if item["name"] == "POD_NAME"]
    assert pod["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    env = env_of(app)
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
        "k8s.namespace.name=ml,k8s.pod.name=$(POD_NAME),deployment.environment=ci"
    )
    otel = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    for key in Settings.model_fields:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    for key, value in otel.items():
        monkeypatch.setenv(key, value.replace("$(POD_NAME)", "glassbox-7d9f-abc"))
    settings = Settings()
    assert settings.spans_enabled
    assert settings.otlp_traces_endpoint == "http://tempo.monitoring:4318/v1/traces"
    assert settings.OTEL_TRACES_SAMPLER == "parentbased_traceidratio"
    assert settings.OTEL_TRACES_SAMPLER_ARG == 0.05
    assert settings.OTEL_SERVICE_NAME == "glassbox"
    (policy,) = of_kind(documents, "NetworkPolicy")
    ports = [port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])]
    assert ports == [4318, 53, 53]

    # A collector's token: from an existing Secret, as a file in SECRETS_DIR, never env.
    with_token = render(CHART / "ci" / "tracing-values.yaml", "tracing.headersSecret=otlp")
    app = container(with_token)
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in {item["name"] for item in app["env"]}
    volumes = only(with_token, "Deployment")["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == "secrets"]
    sources = [source["secret"] for source in volume["projected"]["sources"]]
    (source,) = [secret for secret in sources if secret["name"] == "otlp"]
    (item,) = source["items"]
    (tmp_path / item["path"]).write_text("authorization=Bearer t0ken\n")
    for key in otel:
        monkeypatch.delenv(key)
    for key, value in env_of(app).items():  # this pod's environment: no headers in it
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value.replace("$(POD_NAME)", "glassbox-7d9f-abc"))
    assert Settings().OTEL_EXPORTER_OTLP_HEADERS.get_secret_value() == "authorization=Bearer t0ken"

    # By default: no endpoint, no spans (trace context is still read and logged).
    for key, value in env_of(container(render())).items():
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value.replace("$(POD_NAME)", "glassbox-7d9f-abc"))
    assert not Settings().spans_enabled
