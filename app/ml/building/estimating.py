"""What an artifact keeps for estimating its quality live, before labels (issue 33):
train.py (on its held-out split) and wrap.py (on a sample with the target) both end here.

A classifier: the calibration of its confidence (app/ml/building/calibrating.py, CBPE),
stored as data in metadata.json. A regressor: its loss model (app/ml/building/nanny.py,
DLE), stored beside the model as companion files. Both with the held-out report: the
estimate's own error on rows it did not see.
"""

import io
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt

from app.ml.building.calibrating import calibrate
from app.ml.building.nanny import fit_nanny
from app.ml.contract import Contract
from app.ml.inference import SklearnPath
from app.ml.loss_estimate import NANNY_FILE, NANNY_ONNX_FILE


@dataclass(frozen=True)
class Estimation:
    metadata: dict[str, Any] | None = None  # metadata.json's "estimation", None without one
    companions: dict[str, bytes] = field(default_factory=dict)  # files beside the model


def fit_estimation(
    model: Any,
    contract: Contract,
    rows: npt.NDArray[Any],
    target: npt.NDArray[Any],
    seed: int,
    source: str,
    out_of_fold: tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]] | None = None,
) -> Estimation:
    """The estimate of `model`, judged on `rows` (contract order) it did not train on and
    their `target` (class indices, or values); `source` says which rows they were.
    `out_of_fold`: training rows, their target and the answers of models fitted without
    them (train.py): fitted on those, judged on `rows`, then fitted on both."""
    output = SklearnPath(model, contract).run(rows)  # the model as the service calls it
    if contract.task == "classification":
        folds = None
        if out_of_fold is not None:
            folds = (out_of_fold[2], np.asarray(out_of_fold[1], dtype=np.int64))
        calibration, report = calibrate(output, np.asarray(target, dtype=np.int64), seed, folds)
        metadata = {"kind": "cbpe", **calibration.to_metadata(), "held_out": report}
        return Estimation({**metadata, "source": source})
    nanny = fit_nanny(contract, rows, target, output, seed, out_of_fold)
    if nanny is None:
        return Estimation()
    companions = {NANNY_FILE: _pickled(nanny.model)}
    if nanny.onnx_model is not None:
        companions[NANNY_ONNX_FILE] = nanny.onnx_model
    metadata = {"kind": "dle", "export": nanny.export, "held_out": nanny.report, "source": source}
    return Estimation(metadata, companions)


def _pickled(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()
