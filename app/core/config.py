"""Every runtime setting, read once from environment variables.

The Helm chart, the compose file and the Dockerfile set these same variables, so
this class is the one place that says what the service can be told.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from app.core.keys import decode_key
from app.core.model_uri import parse_model_uri

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The request path's fast paths, each beside the slow twin a test holds it equal to
# (docs/performance.md#fast-paths); FAST_PATHS_OFF names those that give way to their twin.
FAST_PATHS = ("fast-json", "v2-plain-tensor", "direct-dispatch")
# Where the chart mounts its Secrets as files, one per setting (FEEDBACK_TOKEN, ...): a secret
# in a file stays out of the environment, which child processes, crash dumps and
# `kubectl describe` see (checkov CKV_K8S_35).
SECRETS_DIR = Path("/run/secrets/glassbox")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 (replaced below)
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment first, then a file per setting in SECRETS_DIR when it exists
        (pydantic-settings' own secrets source, which warns about a missing directory:
        `make run` has none)."""
        secrets = Path(os.environ.get("SECRETS_DIR", SECRETS_DIR))
        files = (SecretsSettingsSource(settings_cls, secrets),) if secrets.is_dir() else ()
        return (init_settings, env_settings, dotenv_settings, *files)

    HOST: str = Field(default="127.0.0.1", description="Interface to bind.")
    PORT: int = Field(default=8000, ge=1, le=65535, description="TCP port to listen on.")
    METRICS_PORT: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="0: /metrics on PORT. Otherwise /metrics is served on this port only, "
        "for the Service/ServiceMonitor, never behind the Ingress.",
    )
    FEEDBACK_PORT: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="0: /feedback on PORT. Otherwise /feedback is served on this port only, "
        "so a NetworkPolicy can say which pods may label apart from which may predict.",
    )
    MODEL_DIR: Path = Field(
        default=Path("artifacts/latest"),
        description="Directory holding model.joblib and metadata.json.",
    )
    MODEL_URI: str = Field(
        default="",
        description="Serve from an MLflow Model Registry instead of MODEL_DIR: "
        "models:/<name>@<alias>, models:/<name>/<version> or models:/<name>/latest "
        "(docs/registry.md). Needs MLFLOW_TRACKING_URI; credentials come from MLflow's own "
        "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/_PASSWORD.",
    )
    MLFLOW_TRACKING_URI: str = Field(
        default="", description="The MLflow tracking server holding MODEL_URI's registry."
    )
    MODEL_POLL_SECONDS: float = Field(
        default=0,
        ge=0,
        le=86_400,
        description="With MODEL_URI: look up the version it names this often and swap when "
        "it moved (an alias promoted); 0: only on SIGHUP.",
    )
    MODEL_CACHE_DIR: Path = Field(
        default=Path("artifacts/registry"),
        description="With MODEL_URI: where fetched versions are converted and kept "
        "(writable; the chart mounts an emptyDir).",
    )
    MODEL_SIGNING_KEY: SecretStr = Field(
        default=SecretStr(""),
        description="With MODEL_URI: Ed25519 private key (base64) signing each converted "
        "version, so MODEL_PUBLIC_KEY verifies it as any artifact; empty: unsigned.",
    )
    SHADOW_MODEL_DIR: Path | None = Field(
        default=None,
        description="A candidate artifact scored beside the served model on every request, "
        "off the response's path (docs/quality.md); unset: no shadow.",
    )
    SHADOW_QUEUE_SIZE: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Requests waiting for the shadow at most; more are dropped and counted "
        "(model_shadow_dropped_total), never waited for.",
    )
    FEEDBACK_MEMORY_ROWS: int = Field(
        default=50_000,
        ge=0,
        le=10_000_000,
        description="Predicted rows each worker remembers for POST /feedback (about 250 "
        "bytes each); 0: feedback is not joined (every label is `unknown`).",
    )
    PREDICTION_STORE_URL: str = Field(
        default="",
        description="Keep every answered row for /feedback in a shared store that speaks the "
        "Redis protocol (Redis, Valkey): redis://host:port/db, rediss:// for TLS; every worker "
        "and replica joins labels, across restarts. Empty: each worker's memory "
        "(FEEDBACK_MEMORY_ROWS).",
    )
    PREDICTION_STORE_PASSWORD: SecretStr = Field(
        default=SecretStr(""),
        description="The shared store's password, when not in PREDICTION_STORE_URL.",
    )
    FEEDBACK_TOKEN: SecretStr = Field(
        default=SecretStr(""),
        description="When set, POST /feedback needs `Authorization: Bearer <token>` (401 "
        "otherwise): the truth comes from a system, not from whoever got the prediction. "
        "Empty: /feedback is open (make run).",
    )
    FEEDBACK_MAX_AGE_SECONDS: float = Field(
        default=7 * 86_400,
        gt=0,
        description="A label for a prediction older than this is counted `late`, not scored.",
    )
    PREDICTION_LOG_SAMPLE: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of predictions written as a `prediction` event (inputs, outputs, "
        "version, request id) for Loki; 0: none. The access line has the outputs anyway.",
    )
    PREDICTION_LOG_REDACT: str = Field(
        default="",
        description="Comma-separated input names whose values a prediction event replaces "
        'with "[redacted]"; * redacts every input (the event keeps outputs and ids).',
    )
    OTEL_SDK_DISABLED: bool = Field(
        default=False,
        description="OpenTelemetry's switch: true turns spans off whatever else says.",
    )
    OTEL_TRACES_EXPORTER: Literal["", "otlp", "none"] = Field(
        default="",
        description="otlp: export spans over OTLP/HTTP; none: no spans. Empty: spans only when "
        "an OTLP endpoint is set, so an unset environment does no tracing work at all (trace "
        "context is still read and logged: docs/tracing.md).",
    )
    OTEL_EXPORTER_OTLP_ENDPOINT: str = Field(
        default="",
        description="The collector's OTLP/HTTP base URL (e.g. http://tempo:4318); spans go to "
        "its /v1/traces.",
    )
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: str = Field(
        default="", description="The full URL spans are posted to; wins over the base URL."
    )
    OTEL_EXPORTER_OTLP_HEADERS: SecretStr = Field(
        default=SecretStr(""),
        description="Headers sent with every export, key=value,... (a collector's token).",
    )
    OTEL_EXPORTER_OTLP_TIMEOUT: int = Field(
        default=2000, ge=1, le=60_000,
        description="Milliseconds an export may take (the spec's default is 10,000; a "
        "collector that is down holds the exporting thread, never a request).",
    )  # fmt: skip
    OTEL_SERVICE_NAME: str = Field(default="glassbox", description="service.name of every span.")
    OTEL_RESOURCE_ATTRIBUTES: str = Field(
        default="",
        description="More resource attributes, key=value,... (deployment.environment=prod).",
    )
    OTEL_TRACES_SAMPLER: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(
        default="parentbased_traceidratio",
        description="Which requests get spans: parentbased_traceidratio follows the caller's "
        "decision and samples OTEL_TRACES_SAMPLER_ARG of the requests that start a trace.",
    )
    OTEL_TRACES_SAMPLER_ARG: float = Field(
        default=0.01, ge=0, le=1, description="The ratio of the *traceidratio samplers."
    )
    LOG_LEVEL: LogLevel = Field(default="INFO", description="Minimum level written to stdout.")
    LOG_FORMAT: Literal["json", "console"] = Field(
        default="json", description="json for machines (Loki), console for humans."
    )
    MAX_BODY_BYTES: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Largest request body accepted."
    )
    MAX_BATCH_SIZE: int = Field(
        default=1000, ge=1, le=100_000, description="Most instances in one /predict/batch call."
    )
    INFERENCE_PATH: Literal["auto", "sklearn"] = Field(
        default="auto",
        description="auto: ONNX Runtime when the artifact's export matches scikit-learn "
        "(else scikit-learn, logged); sklearn: always scikit-learn.",
    )
    FAST_PATHS_OFF: str = Field(
        default="",
        description="Comma-separated fast paths that give way to their slow twin (the same "
        "answers, slower): " + ", ".join(FAST_PATHS) + "; `make bench` measures each this way "
        "(docs/performance.md). Empty: every fast path on.",
    )
    OUT_OF_RANGE: Literal["accept", "refuse"] = Field(
        default="accept",
        description="A number outside the model's training range, or a category training "
        "never saw: accept serves it and counts it (model_feature_out_of_range_total); "
        "refuse answers 422 naming the field.",
    )
    MAX_HEADER_BYTES: int = Field(
        default=16_384,
        ge=1024,
        le=1_048_576,
        description="Largest request head (request line + headers); over it: 431, closed.",
    )
    HEADER_TIMEOUT_SECONDS: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A connection that has not sent a whole request head by then is closed.",
    )
    MAX_CONNECTIONS: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        description="Open connections per worker; one more is answered 503 + Retry-After.",
    )
    DRAIN_SECONDS: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="After SIGTERM: not ready, answers with Connection: close, then exits 0.",
    )
    DRAIN_ENDS_WHEN_IDLE: bool = Field(
        default=False,
        description="End the drain as soon as no connection is open (`make run`: nothing "
        "routes to it, so nothing is left to wait for); a pod keeps the whole DRAIN_SECONDS "
        "while its endpoint is removed.",
    )
    FORWARDED_ALLOW_IPS: str = Field(
        default="",
        description="Proxies whose X-Forwarded-For/-Proto are trusted (comma-separated "
        "IPs/CIDRs, * for any); empty: none, the peer address is the client.",
    )
    MODEL_PUBLIC_KEY: str = Field(
        default="",
        description="Ed25519 public key (base64, 32 bytes) that must have signed the "
        "artifact's metadata.json; empty: artifacts are loaded unverified (logged).",
    )
    DOCS_ENABLED: bool = Field(
        default=True,
        description="Serve /docs (Swagger UI from the image, no CDN) and /openapi.json.",
    )
    WEB_CONCURRENCY: int = Field(
        default=1, ge=1, le=64, description="Worker processes; >1 turns on multiprocess metrics."
    )
    SECRETS_DIR: Path = Field(
        default=SECRETS_DIR,
        description="A directory of files named after settings (FEEDBACK_TOKEN, "
        "PREDICTION_STORE_URL, ...), each holding its value: how the chart passes Secrets, "
        "never as environment variables. The environment wins; a missing directory: none.",
    )
    PID_FILE: str = Field(
        default="",
        description="Write the server's pid to this file (removed at exit): `make run` sets "
        "it, `make reload` signals it; empty: no file (the chart's pods need none).",
    )

    @field_validator("SHADOW_MODEL_DIR", mode="before")
    @classmethod
    def _no_shadow_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # the chart sets every variable, "" for none

    @field_validator("FAST_PATHS_OFF")
    @classmethod
    def _known_fast_paths(cls, value: str) -> str:
        unknown = sorted(set(_names(value)) - set(FAST_PATHS))
        if unknown:
            raise ValueError(f"unknown fast paths {unknown}; known: {', '.join(FAST_PATHS)}")
        return value

    @property
    def spans_enabled(self) -> bool:
        """Whether to export spans: OTLP asked for by name, or by an endpoint alone."""
        if self.OTEL_SDK_DISABLED or self.OTEL_TRACES_EXPORTER == "none":
            return False
        return self.OTEL_TRACES_EXPORTER == "otlp" or bool(self.otlp_traces_endpoint)

    @property
    def otlp_traces_endpoint(self) -> str:
        """Where spans are posted, as OpenTelemetry's exporter resolves the two variables."""
        if self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
            return self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        if self.OTEL_EXPORTER_OTLP_ENDPOINT:
            return self.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/") + "/v1/traces"
        return "http://localhost:4318/v1/traces" if self.OTEL_TRACES_EXPORTER == "otlp" else ""

    def fast_path(self, name: str) -> bool:
        """Whether the fast path `name` (one of FAST_PATHS) is on."""
        return name not in _names(self.FAST_PATHS_OFF)

    @field_validator("PREDICTION_STORE_URL")
    @classmethod
    def _a_redis_url_or_empty(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a redis://, rediss:// or unix:// URL (Redis, Valkey), or empty")
        return value

    @field_validator("MODEL_URI")
    @classmethod
    def _a_model_uri_or_empty(cls, value: str) -> str:
        if value:
            parse_model_uri(value)  # refuse a malformed URI at startup
        return value

    @model_validator(mode="after")
    def _a_port_for_each(self) -> "Settings":
        ports = [port for port in (self.PORT, self.METRICS_PORT, self.FEEDBACK_PORT) if port]
        if len(set(ports)) < len(ports):
            raise ValueError("PORT, METRICS_PORT and FEEDBACK_PORT must differ (0: on PORT)")
        return self

    @model_validator(mode="after")
    def _a_tracking_server_for_a_model_uri(self) -> "Settings":
        if self.MODEL_URI and not self.MLFLOW_TRACKING_URI:
            raise ValueError("MODEL_URI needs MLFLOW_TRACKING_URI (the registry's server)")
        return self

    @field_validator("MODEL_PUBLIC_KEY")
    @classmethod
    def _a_public_key_or_empty(cls, value: str) -> str:
        if value:
            decode_key(value, "MODEL_PUBLIC_KEY")  # refuse a malformed key at startup
        return value


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
