"""Switch models without a restart: on SIGHUP, load MODEL_DIR again beside the served model.

`make promote` and `make rollback` repoint artifacts/latest; SIGHUP then makes every worker
load what MODEL_DIR points at now (`kill -HUP <pid>`, or `kubectl exec … -- kill -HUP 1`;
with several workers the supervisor forwards it, see app/__main__.py). The candidate goes
through every check of a startup load (signature, checksums, scikit-learn version, ONNX
agreement, the API's features) in a thread, while the old model keeps answering; only a
candidate that passed them all replaces it, by one assignment, so each request sees one
model or the other, never a mix. A failed candidate is logged (`model_reload_failed`, with
its reason) and the old model goes on serving.
"""

import asyncio
import gc
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError
from app.ml.model_state import ModelState, load_predictor, serve

logger = get_logger("glassbox.reload")


class ModelReloader:
    """Loads a candidate model off the event loop and swaps it in when it passes."""

    def __init__(
        self,
        get_state: Callable[[], ModelState],
        set_state: Callable[[ModelState], None],
        model_dir: Path,
        expected_features: Sequence[str],
        inference_path: Literal["auto", "sklearn"],
        public_key: str,
    ) -> None:
        self._get_state, self._set_state = get_state, set_state
        self._model_dir = model_dir
        self._features = list(expected_features)
        self._inference_path: Literal["auto", "sklearn"] = inference_path
        self._public_key = public_key
        self._lock = asyncio.Lock()  # one reload at a time; a second SIGHUP waits its turn

    async def reload(self) -> bool:
        async with self._lock:
            old = self._get_state().predictor
            logger.info("model_reload_started", model_dir=str(self._model_dir))
            try:
                candidate = await asyncio.to_thread(
                    load_predictor,
                    self._model_dir,
                    self._features,
                    self._inference_path,
                    self._public_key,
                )
            except ModelLoadError as exc:
                logger.error(
                    "model_reload_failed",
                    reason=exc.reason,
                    message=exc.message,
                    serving=old.version if old else None,
                    **exc.details,
                )
                return False
            self._set_state(serve(candidate))
            if old is not None and old.version != candidate.version:
                old.retire()
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


def install(reloader: ModelReloader) -> None:
    """Reload on SIGHUP (call from the app's startup, in the serving loop)."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only (tests running the app in a thread)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[bool]] = set()

    def on_sighup() -> None:
        task = loop.create_task(reloader.reload())
        tasks.add(task)  # keep a reference until it finishes
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
