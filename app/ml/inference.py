"""Which code computes the model's output: ONNX Runtime when it provably agrees with scikit-learn.

The output is `predict_proba` for a classifier ([N, C]) and `predict` for a regressor ([N]).
For one row, scikit-learn spends almost all of a ~230 µs call validating its input; the
same exported graph runs in ONNX Runtime in ~8 µs (`make bench` prints both beside a NumPy
floor). The exported graph serves only after it reproduces scikit-learn's output on the
artifact's reference rows (training rows) to within TOLERANCE, with the same winning class
for a classifier. Anything else -- no export in the artifact, an estimator skl2onnx could
not convert, a mismatch, INFERENCE_PATH=sklearn -- serves through scikit-learn, and the
reason is returned so the caller can log it and label `model_info{inference_path}`.

Rows reach a path as one NumPy matrix in contract order: float64 when every input is
numeric, object (floats and strings) when some input is a category. A model fitted on a
DataFrame is given one with its column names; an export with one input per column (what
skl2onnx makes for a DataFrame pipeline) is fed column by column.
"""

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from app.ml.contract import Contract

TOLERANCE = 1e-9
PathName = Literal["onnxruntime", "sklearn"]
Rows = npt.NDArray[Any]
Output = npt.NDArray[np.float64]


class InferencePath(Protocol):
    @property
    def name(self) -> PathName: ...

    def run(self, rows: Rows) -> Output: ...


@dataclass(frozen=True)
class SklearnPath:
    """The model's own predict_proba / predict: slow on small inputs, serves every estimator."""

    model: Any
    contract: Contract
    name: PathName = "sklearn"

    def run(self, rows: Rows) -> Output:
        model_input: Any = rows
        columns = getattr(self.model, "feature_names_in_", None)
        if columns is not None:  # fitted on a DataFrame: names, or it warns on every call
            import pandas as pd

            model_input = pd.DataFrame(rows, columns=list(columns))
            if not self.contract.numeric:
                numeric = [item.name for item in self.contract.inputs if item.numeric]
                model_input[numeric] = model_input[numeric].astype(np.float64)
        if self.contract.task == "classification":
            return np.asarray(self.model.predict_proba(model_input), dtype=np.float64)
        return np.asarray(self.model.predict(model_input), dtype=np.float64).reshape(-1)


class OnnxPath:
    """An ONNX Runtime session on one thread: the pod's CPU limit, not the node's cores."""

    name: PathName = "onnxruntime"

    def __init__(self, onnx_model: bytes, contract: Contract) -> None:
        import onnxruntime  # imported here so a scikit-learn-only deployment never loads it

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its own warnings bypass our JSON logging
        self._session = onnxruntime.InferenceSession(
            onnx_model, options, providers=["CPUExecutionProvider"]
        )
        self._task = contract.task
        inputs = [item.name for item in self._session.get_inputs()]
        self._matrix_input = inputs[0] if len(inputs) == 1 else None
        if self._matrix_input is None and inputs != contract.names:
            raise ValueError(f"exported graph's inputs {inputs} are not {contract.names}")
        self._columns = (
            [] if self._matrix_input else [(item.name, item.numeric) for item in contract.inputs]
        )
        wanted = "probabilities" if contract.task == "classification" else "variable"
        outputs = [output.name for output in self._session.get_outputs()]
        if wanted not in outputs:
            raise ValueError(f"exported graph has no {wanted!r} output: {outputs}")
        self._outputs = [wanted]

    def run(self, rows: Rows) -> Output:
        if self._matrix_input is not None:
            feeds: dict[str, Any] = {self._matrix_input: rows.astype(np.float64, copy=False)}
        else:
            feeds = {
                name: rows[:, [index]].astype(np.float64 if numeric else object)
                for index, (name, numeric) in enumerate(self._columns)
            }
        output: Output = self._session.run(self._outputs, feeds)[0]
        return output if self._task == "classification" else output.reshape(-1)


def _disagreement(
    candidate: InferencePath, reference: SklearnPath, rows: Rows, task: str
) -> str | None:
    expected = reference.run(rows)
    actual = candidate.run(rows)
    if actual.shape != expected.shape:
        return f"output shape {actual.shape} differs from scikit-learn's {expected.shape}"
    worst = float(np.max(np.abs(actual - expected)))
    if not worst <= TOLERANCE:  # also catches NaN
        return f"max |difference| from scikit-learn is {worst:.3g} > {TOLERANCE:g}"
    if task == "classification" and not np.array_equal(
        actual.argmax(axis=1), expected.argmax(axis=1)
    ):
        return "a predicted class differs from scikit-learn's"
    return None


def choose_path(
    model: Any,
    contract: Contract,
    onnx_model: bytes | None,
    reference_rows: Rows | None,
    preferred: Literal["auto", "sklearn"] = "auto",
) -> tuple[InferencePath, str | None]:
    """The fastest path that agrees with scikit-learn, and why a faster one was refused."""
    sklearn_path = SklearnPath(model, contract)
    if preferred == "sklearn":
        return sklearn_path, "INFERENCE_PATH=sklearn"
    if onnx_model is None:
        return sklearn_path, "artifact has no ONNX export"
    if reference_rows is None or len(reference_rows) == 0:
        return sklearn_path, "artifact has no reference rows to verify the ONNX export"
    try:
        onnx_path = OnnxPath(onnx_model, contract)
        problem = _disagreement(onnx_path, sklearn_path, reference_rows, contract.task)
    except Exception as exc:  # any failure of the optional path means: serve with sklearn
        return sklearn_path, f"ONNX Runtime could not run the export: {type(exc).__name__}: {exc}"
    if problem is not None:
        return sklearn_path, problem
    return onnx_path, None
