"""The calibration behind estimated accuracy: fitted on held-out rows, served as a lookup
equal to scikit-learn's isotonic regression, kept only where it is better calibrated than
the raw confidence, and honest about its own error."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.ml.building.calibrating import calibrate, fit_isotonic
from app.ml.calibration import Calibration, expected_calibration_error
from scripts.example_data import bundled
from tests.support.training import train_here


def overconfident(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes whose raw probabilities claim more than the truth gives them: each row's
    true class is drawn from a flattened version of what it claims."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(rows, 3))
    claimed = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.exp(logits / 3) / np.exp(logits / 3).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in truth])
    return claimed, labels


def test_the_lookup_is_scikit_learns_isotonic_prediction() -> None:
    raw, labels = overconfident(600, seed=1)
    calibration = fit_isotonic(raw, labels)
    probe = np.random.default_rng(2).uniform(-0.1, 1.1, size=500)  # beyond the ends too
    for k in range(3):
        reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        reference.fit(raw[:, k], (labels == k).astype(float))
        looked_up = np.interp(probe, calibration.thresholds[k], calibration.values[k])
        np.testing.assert_allclose(looked_up, reference.predict(probe), atol=1e-12)


def test_calibrated_probabilities_are_rows_summing_to_one() -> None:
    raw, labels = overconfident(600, seed=3)
    calibrated = fit_isotonic(raw, labels).probabilities(raw)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert calibrated.min() >= 0.0


def test_overconfidence_is_corrected_and_the_estimate_follows_the_truth() -> None:
    raw, labels = overconfident(2000, seed=4)
    fit_rows, new_rows = np.arange(1000), np.arange(1000, 2000)
    calibration, report = calibrate(raw[fit_rows], labels[fit_rows], seed=0)
    assert report["method"] == "isotonic"
    assert report["ece_isotonic"] < report["ece_raw"]
    truth = float((raw[new_rows].argmax(axis=1) == labels[new_rows]).mean())
    raw_says = float(raw[new_rows].max(axis=1).mean())
    estimated = float(calibration.correct(raw[new_rows]).mean())
    assert raw_says - truth > 0.1  # the raw confidence is far off
    assert abs(estimated - truth) < 0.03
    assert report["estimate_error"] < 0.05


def test_an_already_calibrated_model_keeps_the_identity() -> None:
    """Probabilities that are the truth's own: isotonic cannot do better on unseen rows."""
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, size=(400, 3))
    raw = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in raw])
    calibration, report = calibrate(raw, labels, seed=0)
    assert report["ece_isotonic"] >= report["ece_raw"]
    assert calibration.method == "identity"
    np.testing.assert_array_equal(calibration.probabilities(raw), raw)


def test_too_few_rows_to_judge_keep_the_identity() -> None:
    raw, labels = overconfident(8, seed=6)
    calibration, report = calibrate(raw, labels, seed=0)
    assert calibration.method == "identity"
    assert report["folds"] == 0


def test_the_expected_confusion_sums_to_the_rows_and_its_diagonal_to_the_estimate() -> None:
    raw, labels = overconfident(500, seed=7)
    calibration = fit_isotonic(raw, labels)
    confusion = calibration.confusion(raw)
    assert confusion.sum() == pytest.approx(500)
    assert np.trace(confusion) == pytest.approx(calibration.correct(raw).sum())
    # Row sums: the rows served each class.
    np.testing.assert_allclose(confusion.sum(axis=1), np.bincount(raw.argmax(axis=1), minlength=3))


def test_metadata_round_trips_as_json_and_refuses_a_broken_map() -> None:
    raw, labels = overconfident(300, seed=8)
    calibration = fit_isotonic(raw, labels)
    data = json.loads(json.dumps(calibration.to_metadata()))
    again = Calibration.from_metadata(data)
    np.testing.assert_array_equal(again.probabilities(raw), calibration.probabilities(raw))
    assert Calibration.from_metadata({"method": "identity"}).method == "identity"
    broken = json.loads(json.dumps(data))
    broken["thresholds"][0], broken["values"][0] = [0.2, 0.8], [0.9, 0.1]  # decreasing
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibration.from_metadata(broken)
    with pytest.raises(ValueError, match="method"):
        Calibration.from_metadata({"method": "pickle"})
    outside = json.loads(json.dumps(data))
    outside["values"][1] = [v * 2 for v in outside["values"][1]]
    with pytest.raises(ValueError, match="probabilities"):
        Calibration.from_metadata(outside)


def test_ece_of_perfect_and_of_overconfident_answers() -> None:
    confidence = np.full(100, 0.9)
    assert expected_calibration_error(confidence, np.arange(100) < 90) == pytest.approx(0.0)
    assert expected_calibration_error(confidence, np.arange(100) < 50) == pytest.approx(0.4)


@pytest.mark.parametrize("loader", [load_digits, load_breast_cancer], ids=["digits", "cancer"])
def test_on_bundled_data_the_estimate_is_within_003_of_the_held_out_truth(loader: object) -> None:
    """The issue's offline check with the pipeline train.py builds (scaled logistic
    regression): calibrated on one held-out half, estimated on the other."""
    features, target = loader(return_X_y=True)  # type: ignore[operator]
    x_train, x_rest, y_train, y_rest = train_test_split(
        features, target, test_size=0.4, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x_train, y_train)
    x_cal, x_new, y_cal, y_new = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest
    )
    calibration, _ = calibrate(model.predict_proba(x_cal), y_cal, seed=0)
    raw = model.predict_proba(x_new)
    truth = float((raw.argmax(axis=1) == y_new).mean())
    assert abs(float(calibration.correct(raw).mean()) - truth) < 0.03


def test_train_keeps_the_calibration_and_its_held_out_report_in_the_artifact(
    tmp_path: Path,
) -> None:
    """A classifier's metadata.json carries its calibration as data (no pickle) and what the
    held-out rows said of it (the served maps load back as written); a regressor's carries
    no map but its loss model (tests/unit/ml/test_estimation.py)."""
    assert train_here(tmp_path / "iris") == 0
    metadata = json.loads((tmp_path / "iris" / "latest" / "metadata.json").read_text())
    estimation = metadata["estimation"]
    assert estimation["kind"] == "cbpe"
    report = estimation["held_out"]
    assert report["method"] == estimation["method"] in ("isotonic", "identity")
    assert report["rows"] == round(150 * 0.2)
    assert report["estimate_error"] == pytest.approx(
        abs(report["estimated_accuracy"] - report["true_accuracy"]), abs=1e-5
    )
    assert report["true_accuracy"] == pytest.approx(metadata["metrics"]["accuracy"])
    Calibration.from_metadata(estimation)
    diabetes = bundled("diabetes", tmp_path)
    assert train_here(tmp_path / "reg", "--data", str(diabetes.path), "--target", "target") == 0
    regression = json.loads((tmp_path / "reg" / "latest" / "metadata.json").read_text())
    assert regression["estimation"]["kind"] == "dle"
    assert "method" not in regression["estimation"]
    assert regression["estimation"]["held_out"]["true_mae"] == pytest.approx(
        regression["metrics"]["mae"]
    )
