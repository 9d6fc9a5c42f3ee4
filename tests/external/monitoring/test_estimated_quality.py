"""Estimated quality against the truth, with the real service, Prometheus and Alertmanager.

Each bundled dataset is split once (seed 0): train.py trains on 70 % (its own held-out
split and out-of-fold answers fit the estimate), the other 30 % are rows nothing saw. 1,000
requests are drawn from those rows, as they come (unshifted) or from where the model is
worse while staying inside the training support (shifted: the least sure third for a
classifier, the highest 40 % of predictions for the regressor); every row's true label is
then sent to /feedback. Prometheus's recorded estimate is held against the true quality of
exactly the rows answered, and the live quality from the labels must equal that truth.
The figures of every case are in docs/quality.md.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from app.ml.serving.loading import load_runtime
from monitoring.mixin import config
from monitoring.mixin.rules.drift import OUTSIDE_SUPPORT
from monitoring.mixin.rules.quality import ESTIMATED_ACCURACY, ESTIMATED_MAE
from scripts.example_data import bundled
from tests.external.monitoring.servers import Server, monitored_service, query, wait_for
from tests.external.monitoring.test_any_model import replay
from tests.external.monitoring.test_integration import firing
from tests.support.service import train

ROWS = 1000
SEED = 0
PRIMARY = '{job="glassbox", role="primary"}'


@dataclass(frozen=True)
class Split:
    model_dir: Path
    task: str
    unseen: pd.DataFrame  # inputs of rows no part of training saw
    truths: list[Any]  # their targets
    held_out: float  # the artifact's held-out accuracy or MAE


@dataclass(frozen=True)
class Measured:
    estimate: float  # Prometheus's recorded estimate over the traffic
    truth: float  # the true accuracy or MAE of exactly the rows answered
    live: float  # live quality in Prometheus from the /feedback labels
    alerts: set[str]  # the Glassbox alerts active in Alertmanager afterwards
    outside: float  # the share of input values outside the training support


def split(name: str, directory: Path) -> Split:
    written = bundled(name, directory)
    frame = pd.read_csv(written.path)
    classify = written.task == "classification"
    stratify = frame[written.target] if classify else None
    seen, unseen = train_test_split(frame, test_size=0.3, random_state=SEED, stratify=stratify)
    seen.to_csv(directory / "train.csv", index=False)
    result = train(
        directory / "artifacts", "--data", str(directory / "train.csv"),
        "--target", written.target, "--test-size", "0.3",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    model_dir = directory / "artifacts" / "latest"
    metrics = json.loads((model_dir / "metadata.json").read_text())["metrics"]
    truths = unseen[written.target].astype(str if classify else float).tolist()
    return Split(
        model_dir,
        written.task,
        unseen.drop(columns=written.target).reset_index(drop=True),
        truths,
        metrics["accuracy" if classify else "mae"],
    )


def least_sure(data: Split, share: float) -> np.ndarray:
    """The unseen rows where the model is least sure (classifier) or predicts highest
    (regressor): a region of the training support where it does worse."""
    runtime = load_runtime(data.model_dir, None)
    output = runtime.inference.run(runtime.matrix(data.unseen.to_numpy().tolist()))
    if data.task == "classification":
        confidence = output.max(axis=1)
        return np.flatnonzero(confidence <= np.quantile(confidence, share))
    return np.flatnonzero(output >= np.quantile(output, 1 - share))


def measure(
    data: Split,
    workdir: Path,
    pick: np.ndarray | None = None,
    change: Callable[[pd.DataFrame], pd.DataFrame] = lambda rows: rows,
) -> Measured:
    """Serve ROWS requests drawn from the unseen rows (`pick`: only those), changed by
    `change`, label every one, and read what Prometheus and Alertmanager then say."""
    rng = np.random.default_rng(SEED)
    drawn = rng.choice(pick if pick is not None else np.arange(len(data.unseen)), ROWS)
    rows = change(data.unseen.iloc[drawn].reset_index(drop=True))
    truths = [data.truths[i] for i in drawn]
    classify = data.task == "classification"
    with monitored_service(data.model_dir, workdir) as (service, prom, am):
        answers = replay(service, rows.to_dict(orient="records"), truths)
        estimated = ESTIMATED_ACCURACY if classify else ESTIMATED_MAE
        sent = 'sum(model_estimated_rows_total{job="glassbox", role="primary"})'
        wait_for(lambda: value(prom, sent) == ROWS, 30, "every row's estimate scraped")
        labelled = (
            "sum(model_feedback_confusion_total)"
            if classify
            else ("sum(model_feedback_absolute_error_count)")
        )
        wait_for(lambda: value(prom, labelled) == ROWS, 30, "every label scraped")
        # The recorded series equal the counters' ratios once the rules ran after that.
        raw = _raw_ratio(classify)

        def recorded_all() -> bool:
            recorded, counted = value(prom, estimated + PRIMARY), value(prom, raw)
            return recorded is not None and counted is not None and abs(recorded - counted) < 1e-9

        wait_for(recorded_all, 30, "the recording rules to see every row")
        time.sleep(4)  # rules evaluate every second, alerts are sent (for: 0s here)
        alerts = {
            alert["labels"]["alertname"]
            for name in ("GlassboxEstimatedQualityDrop", "GlassboxInputsOutsideTraining")
            for alert in firing(am, name)
        }
        if classify:
            truth = float(np.mean([a == t for a, t in zip(answers, truths, strict=True)]))
        else:
            truth = float(np.mean(np.abs(np.asarray(answers) - np.asarray(truths))))
        measured = Measured(
            value(prom, estimated + PRIMARY),
            truth,
            value(prom, _live(classify)),
            alerts,
            value(prom, OUTSIDE_SUPPORT + '{job="glassbox"}'),
        )
        print(
            json.dumps(
                {"model": data.model_dir.parent.parent.name, **measured.__dict__}, default=sorted
            )
        )  # fmt: skip  (the figures docs/quality.md cites)
        return measured


def _live(classify: bool) -> str:
    """Live quality from the labels' counters over everything labelled (their series begin
    with the first label, which a rate() over them would leave out)."""
    if classify:
        confusion = "model_feedback_confusion_total"
        return f'sum({confusion}{{correct="true"}}) / sum({confusion})'
    return "sum(model_feedback_absolute_error_sum) / sum(model_feedback_absolute_error_count)"


def _raw_ratio(classify: bool) -> str:
    """The counters' own ratio: what the recorded estimate equals once it saw every row."""
    counter = "correct" if classify else "absolute_error"
    return (
        f"sum(model_estimated_{counter}_total{PRIMARY}) / sum(model_estimated_rows_total{PRIMARY})"
    )


def value(prom: Server, expr: str) -> Any:
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def breast_cancer(tmp_path_factory: pytest.TempPathFactory) -> Split:
    return split("breast_cancer", tmp_path_factory.mktemp("breast_cancer"))


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Split:
    return split("wine", tmp_path_factory.mktemp("wine"))


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> Split:
    return split("diabetes", tmp_path_factory.mktemp("diabetes"))


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_a_classifiers_estimate_is_within_003_of_the_truth_on_unshifted_traffic(
    dataset: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data: Split = request.getfixturevalue(dataset)
    measured = measure(data, tmp_path)
    assert abs(measured.estimate - measured.truth) <= 0.03, measured
    assert measured.live == pytest.approx(measured.truth, abs=1e-9)  # the labels agree
    assert measured.alerts == set(), measured  # no false alarm, nor on the support


def test_where_the_model_is_worse_the_estimate_follows_the_truth_and_the_alert_fires(
    breast_cancer: Split, tmp_path: Path
) -> None:
    """breast cancer's least sure third: the truth falls more than the margin below the
    held-out accuracy, the estimate follows it within 0.05, and the warning reaches
    Alertmanager before any label could have."""
    measured = measure(breast_cancer, tmp_path, least_sure(breast_cancer, 0.3))
    assert abs(measured.estimate - measured.truth) <= 0.05, measured
    assert measured.truth < breast_cancer.held_out - config.ESTIMATE_ACCURACY_MARGIN, measured
    assert measured.live == pytest.approx(measured.truth, abs=1e-9)
    assert "GlassboxEstimatedQualityDrop" in measured.alerts, measured
    assert "GlassboxInputsOutsideTraining" not in measured.alerts  # inside the support
    assert measured.outside < config.ESTIMATE_SUPPORT_MAX_OUTSIDE


def test_where_the_model_is_not_worse_the_estimate_says_so_and_stays_silent(
    wine: Split, tmp_path: Path
) -> None:
    """wine's least sure third is still answered right: the estimate follows the truth
    within 0.05 and does not warn."""
    measured = measure(wine, tmp_path, least_sure(wine, 0.3))
    assert abs(measured.estimate - measured.truth) <= 0.05, measured
    assert measured.truth >= wine.held_out - config.ESTIMATE_ACCURACY_MARGIN, measured
    assert "GlassboxEstimatedQualityDrop" not in measured.alerts, measured


def test_a_regressors_estimated_mae_follows_the_truth(diabetes: Split, tmp_path: Path) -> None:
    """Diabetes, unshifted: the estimated MAE within 15 % of the true MAE; its highest
    predictions (where it does worse): within 15 % again, and higher than unshifted, as
    the truth is. (At this split the unshifted estimate is 15.0 % high, at the bound: on
    diabetes's 133 unseen rows the true MAE itself varies that much between splits; over
    8 splits even the held-out MAE as a constant estimate was off by up to 16 %.)"""
    unshifted = measure(diabetes, tmp_path / "unshifted")
    assert abs(unshifted.estimate - unshifted.truth) <= 0.15 * unshifted.truth, unshifted
    assert unshifted.live == pytest.approx(unshifted.truth, rel=1e-9)
    assert unshifted.alerts == set(), unshifted
    shifted = measure(diabetes, tmp_path / "shifted", least_sure(diabetes, 0.4))
    assert abs(shifted.estimate - shifted.truth) <= 0.15 * shifted.truth, shifted
    assert shifted.truth > unshifted.truth
    assert shifted.estimate > unshifted.estimate
    assert shifted.live == pytest.approx(shifted.truth, rel=1e-9)


def test_outside_the_training_support_the_estimate_is_marked_blind(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Digits with Gaussian noise (sd 2) on every pixel: the truth falls, the estimate does
    not follow (it cannot: docs/quality.md), so the inputs' support speaks instead:
    GlassboxInputsOutsideTraining fires and the dashboard's estimate is BLIND."""
    digits = split("digits", tmp_path_factory.mktemp("digits"))
    noise = np.random.default_rng(SEED).normal(0.0, 2.0, (ROWS, digits.unseen.shape[1]))
    measured = measure(digits, tmp_path, change=lambda rows: rows + noise)
    assert measured.truth < 0.8, measured
    assert measured.estimate > measured.truth + 0.1, measured  # blind, as documented
    assert measured.live == pytest.approx(measured.truth, abs=1e-9)
    assert "GlassboxInputsOutsideTraining" in measured.alerts, measured
    assert "GlassboxEstimatedQualityDrop" not in measured.alerts, measured
    assert measured.outside > config.ESTIMATE_SUPPORT_MAX_OUTSIDE
