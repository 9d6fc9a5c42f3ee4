"""A regressor's loss model ("nanny", direct loss estimation as NannyML's DLE does it), as
training and the service both see it: a second, small regressor that predicts the absolute
error of each answer from the row's inputs and the answer itself. Its contract is the
model's inputs plus the prediction, so it is exported, checked and served with the same
code as the model (app/ml/inference.py); the files travel as companions of the artifact,
checksummed in its signed metadata.json (app/ml/artifact.py).
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from app.ml.contract import Contract, Input

NANNY_FILE = "nanny.joblib"
NANNY_ONNX_FILE = "nanny.onnx"
# The prediction as the loss model's last input; a model input by this name is refused.
PREDICTION_INPUT = "glassbox_prediction"


def nanny_contract(contract: Contract) -> Contract:
    """The loss model's contract: the regressor's inputs, then its prediction."""
    if PREDICTION_INPUT in contract.names:
        raise ValueError(f"an input named {PREDICTION_INPUT} leaves no name for the prediction")
    return Contract("regression", (*contract.inputs, Input(PREDICTION_INPUT, "number")))


def nanny_rows(rows: npt.NDArray[Any], predictions: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The loss model's input: each row in contract order with its prediction appended
    (float64 rows stay float64; rows with categories stay object)."""
    column = np.asarray(predictions, dtype=np.float64).reshape(-1, 1)
    return np.hstack([rows, column.astype(rows.dtype, copy=False)])
