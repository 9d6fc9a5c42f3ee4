"""The real service without an ONNX export: it serves through scikit-learn and says why,
in one log line and in model_info{inference_path}."""

import json
import shutil
from pathlib import Path

from tests.support.service import VALID_FLOWER, running_service, sample


def test_service_without_export_falls_back_and_says_so(model_dir: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "model"
    shutil.copytree(model_dir.resolve(), artifact)
    (artifact / "model.onnx").unlink()
    metadata = json.loads((artifact / "metadata.json").read_text())
    del metadata["onnx_sha256"]
    (artifact / "metadata.json").write_text(json.dumps(metadata))

    with running_service(artifact, tmp_path / "logs") as service:
        response = service.post("/predict", VALID_FLOWER)
        assert response.status_code == 200
        (fallback,) = service.wait_for_log("inference_fallback")
        assert fallback["level"] == "warning"
        assert fallback["inference_path"] == "sklearn"
        assert "no ONNX export" in fallback["reason"]
        scraped = service.metrics()
        info = {
            "model_name": metadata["model_name"],
            "model_version": metadata["model_version"],
            "sklearn_version": metadata["versions"]["sklearn"],
            "task": "classification",
            "run_id": "",
        }
        assert sample(scraped, "model_info", **info, inference_path="sklearn") == 1
        assert sample(scraped, "model_info", **info, inference_path="onnxruntime") == 0
