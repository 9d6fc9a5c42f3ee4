"""The one owner of the served model: loads it, swaps it on SIGHUP, retires the old one.

Like MLServer's model registry: everything that changes which model serves goes through
one object built from Settings, and the routes, /readyz and /metrics read it and nothing
else. It keeps the model gauges (model_loaded, model_info, the class priors, the drift
baseline) and flushes the drift counts before /metrics renders.

A failed startup load keeps the process alive (liveness passes) but never ready: the pod
stays out of the Service with one clear log line instead of crash-looping.

With MODEL_URI (app/ml/mlflow_source.py) the model comes from an MLflow Model Registry:
startup fetches it in the background (the port is open, /readyz says why not yet ready,
one log line for a registry that cannot be reached, retried until it can); SIGHUP, or
every MODEL_POLL_SECONDS a lookup that found another version, swaps it exactly as below.
A registry that goes down later changes nothing that serves: the lookup failure is logged
once per outage and the current model goes on.

Reload: `make promote` / `make rollback` repoint artifacts/latest, and SIGHUP (`make
reload`, or `kubectl exec … -- kill -HUP 1`; with several workers the supervisor forwards
it, app/__main__.py) makes every worker load what MODEL_DIR points at now. The candidate
goes through every check of a startup load in a thread while the old model keeps
answering; only a candidate that passed them all replaces it, by one assignment, so each
request sees one model or the other, never a mix. A failed candidate is logged
(`model_reload_failed`, with its reason) and the old model goes on serving.

It also owns what outlives one model: the memory of recent predictions that ground truth
joins (app/ml/memory.py, app/ml/quality.py), and the shadow candidate (SHADOW_MODEL_DIR,
app/ml/shadow.py), loaded with every check after the served model at startup and on each
reload; a shadow that fails them is logged (`shadow_load_failed`) and changes nothing that
serves.
"""

import asyncio
import gc
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prometheus_client import Gauge

from app.core.config import Settings
from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError, contract_of, read_metadata
from app.ml.contract import Contract
from app.ml.loading import load_predictor
from app.ml.memory import PredictionMemory, answer
from app.ml.mlflow_source import MlflowSource
from app.ml.predictor import Predictions, Predictor
from app.ml.quality import QualityBook
from app.ml.shadow import ShadowScorer
from app.observability.metrics import (
    MODEL_CLASS_PRIOR,
    MODEL_INFO,
    MODEL_LOADED,
    MODEL_SHADOW_LOADED,
    MODEL_TRAINING_METRIC,
)
from app.observability.prediction_events import PredictionEvents

logger = get_logger("glassbox.model")

# Before the first model from a registry serves, a failed fetch is retried this often (or
# at MODEL_POLL_SECONDS, if that is sooner).
STARTUP_RETRY_SECONDS = 10.0
# The artifact's held-out metrics published as model_training_metric.
TRAINING_METRICS = ("accuracy", "f1_macro", "r2", "rmse", "mae")


@dataclass(frozen=True)
class ModelState:
    """What the last load learned: a predictor, or the reason there is none."""

    predictor: Predictor | None = None
    reason: str = "starting"
    message: str = "model not loaded yet"
    details: dict[str, Any] = field(default_factory=dict)


class ModelRegistry:
    def __init__(
        self,
        model_dir: Path,
        inference_path: Literal["auto", "sklearn"] = "auto",
        public_key: str = "",
        source: MlflowSource | None = None,
        poll_seconds: float = 0.0,
        memory_rows: int = 0,
        feedback_max_age_seconds: float = 7 * 86_400,
        shadow_dir: Path | None = None,
        shadow_queue_size: int = 1000,
        events: PredictionEvents | None = None,
    ) -> None:
        self._model_dir = model_dir
        self.events = events or PredictionEvents(0.0, "")
        self.memory = PredictionMemory(memory_rows)
        self.quality = QualityBook(self.memory, feedback_max_age_seconds)
        self._shadow_dir = shadow_dir
        self._shadow_queue_size = shadow_queue_size
        self.shadow: ShadowScorer | None = None
        self._source = source
        self._poll_seconds = poll_seconds
        # What the HTTP API is built from (app/api/model_api.py): the contract of the model
        # MODEL_DIR holds when the app is made; None when it has none that verifies, or the
        # model comes from a registry: then the first model that loads sets it, and the
        # callbacks given to on_first_model build the API from it.
        self.contract: Contract | None = None
        # Its name and example row, for the OpenAPI document.
        self.startup_metadata: dict[str, Any] = {}
        if source is None:
            self.contract, self.startup_metadata = _readable_contract(model_dir, public_key)
        self._first_model: list[Callable[[Contract, dict[str, Any]], None]] = []
        self._inference_path: Literal["auto", "sklearn"] = inference_path
        self._public_key = public_key
        self.state = ModelState()
        # Retired models whose drift counts may still be pending (a request that began
        # before the swap finishes on the old model); flushed with the served one.
        self._retired: list[Predictor] = []
        self._reload_lock = asyncio.Lock()  # one reload at a time; a second one waits
        self._tasks: set[asyncio.Task[Any]] = set()
        self._registry_failure: str | None = None  # the reason of an outage being reported

    @classmethod
    def from_settings(cls, settings: Settings) -> "ModelRegistry":
        source = None
        if settings.MODEL_URI:
            source = MlflowSource(
                settings.MODEL_URI,
                settings.MLFLOW_TRACKING_URI,
                settings.MODEL_CACHE_DIR,
                settings.MODEL_SIGNING_KEY.get_secret_value(),
            )
        return cls(
            settings.MODEL_DIR,
            settings.INFERENCE_PATH,
            settings.MODEL_PUBLIC_KEY,
            source,
            settings.MODEL_POLL_SECONDS,
            settings.FEEDBACK_MEMORY_ROWS,
            settings.FEEDBACK_MAX_AGE_SECONDS,
            settings.SHADOW_MODEL_DIR,
            settings.SHADOW_QUEUE_SIZE,
            PredictionEvents(settings.PREDICTION_LOG_SAMPLE, settings.PREDICTION_LOG_REDACT),
        )

    def on_first_model(self, callback: Callable[[Contract, dict[str, Any]], None]) -> None:
        """Call `callback(contract, metadata)` when a model loads and none had set the
        contract (a registry source, or MODEL_DIR empty at startup)."""
        self._first_model.append(callback)

    @property
    def predictor(self) -> Predictor | None:
        return self.state.predictor

    def start(self) -> None:
        """Startup, in the serving loop: load MODEL_DIR now, or follow the registry."""
        if self._source is None:
            self.load()
            return
        self.state = ModelState(
            reason="registry_fetching",
            message=f"fetching {self._source.uri} from the model registry",
            details=self._source.describe(),
        )
        self._keep(asyncio.get_running_loop().create_task(self._follow()))

    def load(self) -> ModelState:
        """The startup load: serve the model, or remember why not (model_loaded 0)."""
        try:
            predictor = self._load()
        except ModelLoadError as exc:
            MODEL_LOADED.set(0)
            fields = {"model_dir": str(self._model_dir), **exc.details}
            logger.error("model_load_failed", reason=exc.reason, message=exc.message, **fields)
            self.state = ModelState(reason=exc.reason, message=exc.message, details=exc.details)
            return self.state
        self._serve(predictor)
        self._replace_shadow(self._load_shadow())
        return self.state

    async def reload(self) -> bool:
        """Load MODEL_DIR (or MODEL_URI's version now) beside the served model off the
        event loop; swap if it passes."""
        async with self._reload_lock:
            old = self.predictor
            logger.info("model_reload_started", **self._where())
            try:
                candidate = await asyncio.to_thread(self._load)
            except ModelLoadError as exc:
                logger.error(
                    "model_reload_failed",
                    reason=exc.reason,
                    message=exc.message,
                    serving=old.version if old else None,
                    **exc.details,
                )
                if old is None:
                    self.state = ModelState(
                        reason=exc.reason, message=exc.message, details=exc.details
                    )
                return False
            self._serve(candidate)
            if old is not None and old.version != candidate.version:
                self._retire(old)
            self._replace_shadow(await asyncio.to_thread(self._load_shadow))
            # Startup froze the first model's objects (app/main.py): collect the old model's
            # cycles once, then freeze the new one, or its objects would be rescanned forever.
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            logger.info(
                "model_reloaded",
                model_version=candidate.version,
                previous=old.version if old else None,
                inference_path=candidate.inference_path,
            )
            return True

    def install_reload_signal(self) -> None:
        """Reload on SIGHUP (call from the app's startup, in the serving loop)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only (tests running the app in a thread)
        loop = asyncio.get_running_loop()

        def on_sighup() -> None:
            self._keep(loop.create_task(self.reload()))

        loop.add_signal_handler(signal.SIGHUP, on_sighup)

    def _keep(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._tasks.discard)

    async def _follow(self) -> None:
        """Fetch MODEL_URI's version until one serves (failures: one log line per reason,
        /readyz names it); then, with MODEL_POLL_SECONDS, look the version up that often
        and reload when it moved."""
        assert self._source is not None
        retry = min(STARTUP_RETRY_SECONDS, self._poll_seconds or STARTUP_RETRY_SECONDS)
        while self.predictor is None:
            async with self._reload_lock:
                if self.predictor is not None:
                    break  # a SIGHUP got there first
                try:
                    candidate = await asyncio.to_thread(self._load)
                except ModelLoadError as exc:
                    self.state = ModelState(
                        reason=exc.reason, message=exc.message, details=exc.details
                    )
                    self._report_once(exc, logger.error, "model_load_failed", retry_seconds=retry)
                else:
                    self._registry_failure = None
                    self._serve(candidate)
                    self._replace_shadow(await asyncio.to_thread(self._load_shadow))
            if self.predictor is None:
                await asyncio.sleep(retry)
        while self._poll_seconds > 0:
            await asyncio.sleep(self._poll_seconds)
            if await self._moved():
                await self.reload()

    async def _moved(self) -> bool:
        """Whether MODEL_URI names another version than the one serving; a registry that
        cannot be asked is logged once per outage and changes nothing."""
        assert self._source is not None
        try:
            found = await asyncio.to_thread(self._source.resolve)
        except ModelLoadError as exc:
            serving = self.predictor.version if self.predictor else None
            self._report_once(exc, logger.warning, "model_registry_unreachable", serving=serving)
            return False
        if self._registry_failure is not None:
            self._registry_failure = None
            logger.info("model_registry_reachable", **self._source.describe())
        serving = self.predictor.registry.get("version") if self.predictor else None
        return found.version != serving

    def _report_once(
        self, exc: ModelLoadError, log: Callable[..., Any], event: str, **fields: Any
    ) -> None:
        """One line per outage and reason: a failure repeating on every retry or poll is
        logged when it starts (or changes), not each time."""
        if exc.reason != self._registry_failure:
            self._registry_failure = exc.reason
            log(event, reason=exc.reason, message=exc.message, **fields, **exc.details)

    def _where(self) -> dict[str, str]:
        return self._source.describe() if self._source else {"model_dir": str(self._model_dir)}

    def flush_drift(self) -> None:
        """Every answer's record (Predictor.flush) and pending drift count into the
        Prometheus counters, and the prediction memory's size (before /metrics renders)."""
        for predictor in (self.predictor, *self._retired):
            if predictor is not None:
                predictor.flush()
                predictor.drift.flush()
        self._retired.clear()
        self.memory.publish()

    def _load(self) -> Predictor:
        model_dir = self._model_dir
        if self._source is not None:
            model_dir = self._source.fetch(self._source.resolve())
        return load_predictor(model_dir, self.contract, self._inference_path, self._public_key)

    def _load_shadow(self) -> Predictor | None:
        """The candidate in SHADOW_MODEL_DIR through every load check, against the API's
        contract; None (logged) when there is none or it fails them."""
        if self._shadow_dir is None:
            return None
        try:
            return load_predictor(
                self._shadow_dir,
                self.contract,
                self._inference_path,
                self._public_key,
                serving=False,
            )
        except ModelLoadError as exc:
            logger.error(
                "shadow_load_failed",
                reason=exc.reason,
                message=exc.message,
                shadow_dir=str(self._shadow_dir),
                **exc.details,
            )
            return None

    def _replace_shadow(self, candidate: Predictor | None) -> None:
        old, serving = self.shadow, self.predictor
        if candidate is not None and serving is not None and candidate.version == serving.version:
            logger.info(
                "shadow_idle",
                model_version=candidate.version,
                message="the shadow candidate is the served model: nothing to compare",
            )
            candidate = None
        self.shadow = (
            ShadowScorer(candidate, self._shadow_queue_size, self.memory) if candidate else None
        )
        if old is not None:
            old.stop()
        MODEL_SHADOW_LOADED.set(1 if self.shadow else 0)
        if candidate is not None:
            _publish_training_metrics(candidate, "shadow")
            logger.info(
                "shadow_loaded",
                model_version=candidate.version,
                serving=serving.version if serving else None,
                shadow_dir=str(self._shadow_dir),
            )

    def stop(self) -> None:
        """Shutdown: the shadow scores what is queued; the last drift counts go out."""
        if self.predictor is not None:
            self.predictor.flush()  # this turn's answers: remembered, queued, counted
        if self.shadow is not None:
            self.shadow.stop()
            self.shadow = None
        self.flush_drift()

    def _after_predict(
        self, predictor: Predictor, rows: Any, predictions: Predictions, request_id: str
    ) -> None:
        """Every answer of a served model: remembered for feedback, queued for the shadow,
        and written as a `prediction` event when sampled."""
        classes = predictor.class_tuple
        served = answer(
            predictor.name,
            predictor.version,
            classes,
            predictions.winners if classes else predictions.values,
        )
        entry = self.memory.remember(request_id, served) if self.memory.enabled else None
        shadow = self.shadow
        if shadow is not None:
            shadow.submit(rows, served, request_id, entry)
        if self.events.sample and self.events.sampled():
            outputs = [classes[w] for w in predictions.winners] if classes else predictions.values
            self.events.write(
                request_id,
                predictor.name,
                predictor.version,
                predictor.feature_names,
                rows.tolist(),
                outputs,
            )

    def _serve(self, predictor: Predictor) -> None:
        if self.contract is None:  # the first model: the API is built from it now
            self.contract, self.startup_metadata = predictor.contract, predictor.metadata
            for callback in self._first_model:
                callback(predictor.contract, predictor.metadata)
        _model_info(predictor).set(1)
        for label, prior in predictor.metadata.get("class_priors", {}).items():
            MODEL_CLASS_PRIOR.labels(predictor.name, predictor.version, label).set(prior)
        predictor.drift.publish_baseline()
        _publish_training_metrics(predictor, "primary")
        if self.memory.enabled or self._shadow_dir is not None or self.events.sample:
            predictor.on_predicted = self._after_predict
        MODEL_LOADED.set(1)
        self.state = ModelState(predictor=predictor, reason="loaded", message="model loaded")

    def _retire(self, predictor: Predictor) -> None:
        """No longer served: model_info says so; its pending counts go out."""
        _model_info(predictor).set(0)
        predictor.flush()
        predictor.drift.flush()
        self._retired.append(predictor)


def _model_info(predictor: Predictor) -> Gauge:
    """The model_info child naming this predictor: 1 while it serves, 0 once retired."""
    return MODEL_INFO.labels(
        predictor.name,
        predictor.version,
        predictor.sklearn_version,
        predictor.inference_path,
        predictor.task,
        predictor.registry.get("run_id", ""),
    )


def _publish_training_metrics(predictor: Predictor, role: str) -> None:
    """The held-out metrics stored in the artifact: what live quality is held against."""
    for metric, value in predictor.metadata.get("metrics", {}).items():
        if metric in TRAINING_METRICS and isinstance(value, int | float):
            MODEL_TRAINING_METRIC.labels(predictor.name, predictor.version, role, metric).set(value)


def _readable_contract(model_dir: Path, public_key: str) -> tuple[Contract | None, dict[str, Any]]:
    """The contract in MODEL_DIR's metadata.json (signature checked), and the metadata."""
    try:
        metadata = read_metadata(model_dir, public_key)
        return contract_of(metadata, model_dir), metadata
    except ModelLoadError:
        return None, {}
