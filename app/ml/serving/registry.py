"""The one owner of which model serves: loads it, swaps it on SIGHUP, retires the old one.

Like MLServer's model registry: everything that changes which model serves goes through
one object built from Settings, and the dataplane, /readyz and /model read it and nothing
else. Where the model comes from is its source (app/ml/serving/sources.py: MODEL_DIR on
disk, or MODEL_URI in an MLflow registry); what follows a change is its hooks' business
(app/ml/serving/answers.py `ModelHooks`: the model gauges, the per-model metric children
and drift counters, the shadow), told in order on every load, swap and retirement.

A failed startup load keeps the process alive (liveness passes) but never ready: the pod
stays out of the Service with one clear log line instead of crash-looping.

A remote source (MODEL_URI): startup fetches it in the background (the port is open,
/readyz says why not yet ready, one log line for a registry that cannot be reached,
retried until it can); SIGHUP, or every MODEL_POLL_SECONDS a look-up that found another
revision, swaps it exactly as below. A registry that goes down later changes nothing that
serves: the failure is logged once per outage and the current model goes on.

Reload: `make promote` / `make rollback` repoint artifacts/latest, and SIGHUP (`make
reload`, or `kubectl exec … -- kill -HUP 1`; with several workers the supervisor forwards
it, app/__main__.py) makes every worker load what the source holds now. The candidate goes
through every check of a startup load in a thread while the old model keeps answering;
only a candidate that passed them all replaces it, by one assignment, so each request sees
one model or the other, never a mix. A failed candidate is logged (`model_reload_failed`,
with its reason) and the old model goes on serving.

The shadow candidate (SHADOW_MODEL_DIR) is another runtime from another source, loaded
with every check after the served model (against the same API) at startup and on each
reload; one that fails them is logged (`shadow_load_failed`) and changes nothing that
serves, and one that is the served version idles.
"""

import asyncio
import gc
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.config import Settings
from app.core.deferred import flush_all
from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError
from app.ml.contract import Contract
from app.ml.serving.answers import ModelHooks
from app.ml.serving.loading import load_runtime
from app.ml.serving.mlflow_source import MlflowSource
from app.ml.serving.runtime import ModelRuntime
from app.ml.serving.sources import LocalDirectory, ModelSource

logger = get_logger("glassbox.model")

# Before the first model from a remote source serves, a failed fetch is retried this often
# (or at MODEL_POLL_SECONDS, if that is sooner).
STARTUP_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class ModelState:
    """What the last load learned: a runtime, or the reason there is none."""

    runtime: ModelRuntime | None = None
    reason: str = "starting"
    message: str = "model not loaded yet"
    details: dict[str, Any] = field(default_factory=dict)


class ModelRegistry:
    def __init__(
        self,
        source: ModelSource,
        *,
        shadow_source: LocalDirectory | None = None,
        inference_path: Literal["auto", "sklearn"] = "auto",
        public_key: str = "",
        poll_seconds: float = 0.0,
    ) -> None:
        self.source = source
        self._shadow_source = shadow_source
        self._inference_path: Literal["auto", "sklearn"] = inference_path
        self._public_key = public_key
        self._poll_seconds = poll_seconds
        self.hooks: list[ModelHooks] = []  # told of every change, in this order
        # What the HTTP API is built from (app/api/): the contract the source names at
        # startup; None when it has none that verifies, or the source is remote: then the
        # first model that loads sets it, and `on_first_model`'s callbacks build the API.
        self.contract: Contract | None
        self.contract, self.startup_metadata = source.startup_contract()
        self._first_model: list[Callable[[Contract, dict[str, Any]], None]] = []
        self.state = ModelState()
        # The last SIGHUP reload's outcome (outcome, the version serving, a failure's reason).
        self.last_reload: dict[str, Any] | None = None
        self.shadow: ModelRuntime | None = None
        self._reload_lock = asyncio.Lock()  # one reload at a time; a second one waits
        self._tasks: set[asyncio.Task[Any]] = set()
        self._source_failure: str | None = None  # the reason of an outage being reported

    @classmethod
    def from_settings(cls, settings: Settings) -> "ModelRegistry":
        public_key = settings.MODEL_PUBLIC_KEY
        source: ModelSource = LocalDirectory(settings.MODEL_DIR, public_key)
        if settings.MODEL_URI:
            source = MlflowSource(
                settings.MODEL_URI,
                settings.MLFLOW_TRACKING_URI,
                settings.MODEL_CACHE_DIR,
                settings.MODEL_SIGNING_KEY.get_secret_value(),
            )
        shadow = settings.SHADOW_MODEL_DIR
        return cls(
            source,
            shadow_source=LocalDirectory(shadow, public_key) if shadow else None,
            inference_path=settings.INFERENCE_PATH,
            public_key=public_key,
            poll_seconds=settings.MODEL_POLL_SECONDS,
        )

    def on_first_model(self, callback: Callable[[Contract, dict[str, Any]], None]) -> None:
        """Call `callback(contract, metadata)` when a model loads and none had set the
        contract (a remote source, or MODEL_DIR empty at startup)."""
        self._first_model.append(callback)

    @property
    def runtime(self) -> ModelRuntime | None:
        """The model answering now, or None."""
        return self.state.runtime

    def start(self) -> None:
        """Startup, in the serving loop: load now, or follow a remote source."""
        if not self.source.remote:
            self.load()
            return
        self.state = ModelState(
            reason="registry_fetching",
            message=f"fetching {self.source.describe().get('model_uri', '')} from the model "
            "registry",
            details=self.source.describe(),
        )
        self._keep(asyncio.get_running_loop().create_task(self._follow()))

    def load(self) -> ModelState:
        """The startup load: serve the model, or remember why not (model_loaded 0)."""
        try:
            runtime = self._load()
        except ModelLoadError as exc:
            fields = {**self.source.describe(), **exc.details}
            logger.error("model_load_failed", reason=exc.reason, message=exc.message, **fields)
            self.state = ModelState(reason=exc.reason, message=exc.message, details=exc.details)
            reason = exc.reason
            self._tell(lambda hook: hook.unavailable(reason))
            return self.state
        self._serve(runtime)
        self._replace_shadow(self._load_shadow())
        return self.state

    async def reload(self) -> bool:
        """Load what the source holds now beside the served model, off the event loop;
        swap if it passes."""
        async with self._reload_lock:
            old = self.runtime
            logger.info("model_reload_started", **self.source.describe())
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
                self.last_reload = {
                    "outcome": "failed",
                    "reason": exc.reason,
                    "message": exc.message,
                    "serving": old.version if old else None,
                }
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
            self.last_reload = {
                "outcome": "reloaded",
                "serving": candidate.version,
                "previous": old.version if old else None,
            }
            return True

    def install_reload_signal(
        self, reported: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        """Reload on SIGHUP (call from the app's startup, in the serving loop); `reported`
        is told each outcome (`last_reload`: `make reload` waits for it)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only (tests running the app in a thread)
        loop = asyncio.get_running_loop()

        async def reload_and_report() -> None:
            await self.reload()
            if reported is not None and self.last_reload is not None:
                reported(self.last_reload)

        def on_sighup() -> None:
            self._keep(loop.create_task(reload_and_report()))

        loop.add_signal_handler(signal.SIGHUP, on_sighup)

    def stop(self) -> None:
        """Shutdown: no shadow any more (what it had queued is scored first)."""
        if self.shadow is not None:
            self._replace_shadow(None)

    def _keep(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._tasks.discard)

    async def _follow(self) -> None:
        """Fetch from the remote source until a model serves (failures: one log line per
        reason, /readyz names it); then, with MODEL_POLL_SECONDS, ask that often which
        revision it names and reload when it moved."""
        retry = min(STARTUP_RETRY_SECONDS, self._poll_seconds or STARTUP_RETRY_SECONDS)
        while self.runtime is None:
            async with self._reload_lock:
                if self.runtime is not None:
                    break  # a SIGHUP got there first
                try:
                    candidate = await asyncio.to_thread(self._load)
                except ModelLoadError as exc:
                    self.state = ModelState(
                        reason=exc.reason, message=exc.message, details=exc.details
                    )
                    self._report_once(exc, logger.error, "model_load_failed", retry_seconds=retry)
                else:
                    self._source_failure = None
                    self._serve(candidate)
                    self._replace_shadow(await asyncio.to_thread(self._load_shadow))
            if self.runtime is None:
                await asyncio.sleep(retry)
        while self._poll_seconds > 0:
            await asyncio.sleep(self._poll_seconds)
            if await self._moved():
                await self.reload()

    async def _moved(self) -> bool:
        """Whether the source names another revision than the one serving; a source that
        cannot be asked is logged once per outage and changes nothing."""
        try:
            found = await asyncio.to_thread(self.source.revision)
        except ModelLoadError as exc:
            serving = self.runtime.version if self.runtime else None
            self._report_once(exc, logger.warning, "model_registry_unreachable", serving=serving)
            return False
        if self._source_failure is not None:
            self._source_failure = None
            logger.info("model_registry_reachable", **self.source.describe())
        serving = self.source.revision_of(self.runtime) if self.runtime else None
        return found != serving

    def _report_once(
        self, exc: ModelLoadError, log: Callable[..., Any], event: str, **fields: Any
    ) -> None:
        """One line per outage and reason: a failure repeating on every retry or poll is
        logged when it starts (or changes), not each time."""
        if exc.reason != self._source_failure:
            self._source_failure = exc.reason
            log(event, reason=exc.reason, message=exc.message, **fields, **exc.details)

    def _load(self) -> ModelRuntime:
        return load_runtime(
            self.source.locate(), self.contract, self._inference_path, self._public_key
        )

    def _load_shadow(self) -> ModelRuntime | None:
        """The candidate from the shadow source through every load check, against the
        API's contract; None (logged) when there is none or it fails them."""
        if self._shadow_source is None:
            return None
        try:
            return load_runtime(
                self._shadow_source.locate(),
                self.contract,
                self._inference_path,
                self._public_key,
            )
        except ModelLoadError as exc:
            logger.error(
                "shadow_load_failed",
                reason=exc.reason,
                message=exc.message,
                shadow_dir=str(self._shadow_source.path),
                **exc.details,
            )
            return None

    def _replace_shadow(self, candidate: ModelRuntime | None) -> None:
        serving = self.runtime
        if candidate is not None and serving is not None and candidate.version == serving.version:
            logger.info(
                "shadow_idle",
                model_version=candidate.version,
                message="the shadow candidate is the served model: nothing to compare",
            )
            candidate = None
        self.shadow = candidate
        self._tell(lambda hook: hook.shadowing(candidate))
        if candidate is not None and self._shadow_source is not None:
            logger.info(
                "shadow_loaded",
                model_version=candidate.version,
                serving=serving.version if serving else None,
                shadow_dir=str(self._shadow_source.path),
            )

    def _serve(self, runtime: ModelRuntime) -> None:
        if self.contract is None:  # the first model: the API is built from it now
            self.contract, self.startup_metadata = runtime.contract, runtime.metadata
            for callback in self._first_model:
                callback(runtime.contract, runtime.metadata)
        self._tell(lambda hook: hook.serving(runtime))
        self.state = ModelState(runtime=runtime, reason="loaded", message="model loaded")

    def _retire(self, runtime: ModelRuntime) -> None:
        """No longer served: what it answered is recorded now, then the hooks let go."""
        flush_all()
        self._tell(lambda hook: hook.retired(runtime))

    def _tell(self, event: Callable[[ModelHooks], None]) -> None:
        """Every hook, in order; one that fails is logged and the others still hear."""
        for hook in self.hooks:
            try:
                event(hook)
            except Exception:
                logger.exception("model_hook_failed", hook=type(hook).__name__)
