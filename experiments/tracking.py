"""MLflow tracking for the poisoning sweep, optional: `pip install '.[mlflow]'`.

Every run logs its parameters (poison_level, C, seed, the data's SHA-256), its clean-test
metrics, its confusion matrix and the fitted model; after the sweep the best clean model
(poison level 0, highest accuracy, then macro-F1, then the smallest C) is registered in the
model registry. The tracking URI comes from MLFLOW_TRACKING_URI, as MLflow reads it (a
local `sqlite:///mlflow.db` keeps the registry without a server). The service never imports
this module and never needs MLflow.
"""

from typing import Any

import mlflow
import mlflow.sklearn

from experiments.runs import Run

REGISTERED_MODEL = "glassbox-iris-classifier"


class MlflowTracker:
    def __init__(self, experiment: str, artifact_location: str | None = None) -> None:
        """artifact_location: where a new experiment keeps models and files; by default
        MLflow's (./mlruns beside a local store)."""
        if artifact_location and mlflow.get_experiment_by_name(experiment) is None:
            mlflow.create_experiment(experiment, artifact_location=artifact_location)
        mlflow.set_experiment(experiment)
        self.run_ids: dict[tuple[float, float, int], str] = {}

    def log_run(self, run: Run, model: Any, data_sha256: str) -> None:
        name = f"poison={run.poison_level:.2f} C={run.c:g} seed={run.seed}"
        with mlflow.start_run(run_name=name) as active:
            mlflow.log_params(
                {
                    "poison_level": run.poison_level,
                    "C": run.c,
                    "seed": run.seed,
                    "data_sha256": data_sha256,
                    "flipped_rows": run.flipped_rows,
                }
            )
            mlflow.log_metrics({"accuracy": run.accuracy, "f1_macro": run.f1_macro})
            mlflow.log_dict({"confusion_matrix": run.confusion_matrix}, "confusion_matrix.json")
            mlflow.sklearn.log_model(model, name="model")
            self.run_ids[(run.poison_level, run.c, run.seed)] = active.info.run_id

    def register_best(self, runs: list[Run]) -> str:
        """Register the best clean run's model; its registry version."""
        clean = [r for r in runs if r.poison_level == 0.0]
        best = max(clean, key=lambda r: (r.accuracy, r.f1_macro, -r.c))
        run_id = self.run_ids[(best.poison_level, best.c, best.seed)]
        version = mlflow.register_model(f"runs:/{run_id}/model", REGISTERED_MODEL)
        return str(version.version)
