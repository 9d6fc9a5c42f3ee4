"""Which code computes `predict_proba`: ONNX Runtime when it provably agrees with scikit-learn.

For one row, scikit-learn spends almost all of a ~230 µs call validating its input; the
same exported graph runs in ONNX Runtime in ~8 µs (`make bench` prints both beside a NumPy
floor). The exported graph serves only after it reproduces `predict_proba` on the artifact's
reference rows (training rows) to within TOLERANCE with the same winning class. Anything
else -- no export in the artifact, an estimator skl2onnx could not convert, a mismatch,
INFERENCE_PATH=sklearn -- serves through scikit-learn, and the reason is returned so the
caller can log it and label `model_info{inference_path}`.
"""

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

TOLERANCE = 1e-9
PathName = Literal["onnxruntime", "sklearn"]
Rows = npt.NDArray[np.float64]


class InferencePath(Protocol):
    @property
    def name(self) -> PathName: ...

    def predict_proba(self, rows: Rows) -> Rows: ...


@dataclass(frozen=True)
class SklearnPath:
    """The model's own `predict_proba`: slow on small inputs, but serves every estimator."""

    model: Any
    name: PathName = "sklearn"

    def predict_proba(self, rows: Rows) -> Rows:
        return np.asarray(self.model.predict_proba(rows), dtype=np.float64)


class OnnxPath:
    """An ONNX Runtime session on one thread: the pod's CPU limit, not the node's cores."""

    name: PathName = "onnxruntime"

    def __init__(self, onnx_model: bytes) -> None:
        import onnxruntime  # imported here so a scikit-learn-only deployment never loads it

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its own warnings bypass our JSON logging
        self._session = onnxruntime.InferenceSession(
            onnx_model, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        outputs = [output.name for output in self._session.get_outputs()]
        if "probabilities" not in outputs:
            raise ValueError(f"exported graph has no 'probabilities' output: {outputs}")
        self._outputs = ["probabilities"]

    def predict_proba(self, rows: Rows) -> Rows:
        probabilities: Rows = self._session.run(self._outputs, {self._input: rows})[0]
        return probabilities


def _disagreement(candidate: InferencePath, reference: SklearnPath, rows: Rows) -> str | None:
    expected = reference.predict_proba(rows)
    actual = candidate.predict_proba(rows)
    if actual.shape != expected.shape:
        return f"output shape {actual.shape} differs from scikit-learn's {expected.shape}"
    worst = float(np.max(np.abs(actual - expected)))
    if not worst <= TOLERANCE:  # also catches NaN
        return f"max |difference| from scikit-learn is {worst:.3g} > {TOLERANCE:g}"
    if not np.array_equal(actual.argmax(axis=1), expected.argmax(axis=1)):
        return "a predicted class differs from scikit-learn's"
    return None


def choose_path(
    model: Any,
    onnx_model: bytes | None,
    reference_rows: Rows | None,
    preferred: Literal["auto", "sklearn"] = "auto",
) -> tuple[InferencePath, str | None]:
    """The fastest path that agrees with scikit-learn, and why a faster one was refused."""
    sklearn_path = SklearnPath(model)
    if preferred == "sklearn":
        return sklearn_path, "INFERENCE_PATH=sklearn"
    if onnx_model is None:
        return sklearn_path, "artifact has no ONNX export"
    if reference_rows is None or len(reference_rows) == 0:
        return sklearn_path, "artifact has no reference rows to verify the ONNX export"
    try:
        onnx_path = OnnxPath(onnx_model)
        problem = _disagreement(onnx_path, sklearn_path, reference_rows)
    except Exception as exc:  # any failure of the optional path means: serve with sklearn
        return sklearn_path, f"ONNX Runtime could not run the export: {type(exc).__name__}: {exc}"
    if problem is not None:
        return sklearn_path, problem
    return onnx_path, None
