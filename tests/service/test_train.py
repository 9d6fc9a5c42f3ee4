"""train.py: the shipped dataset, the artifact it writes, and its quality gate."""

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris

from app.ml.signing import keygen
from tests.support.service import ROOT, train

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def test_shipped_csv_is_scikit_learns_iris() -> None:
    with (ROOT / "data" / "iris.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    iris = load_iris()
    assert len(rows) == len(iris.target) == 150
    np.testing.assert_allclose([[float(r[f]) for f in FEATURES] for r in rows], iris.data)
    assert [r["species"] for r in rows] == [iris.target_names[t] for t in iris.target]


def test_artifact_has_model_and_complete_metadata(artifacts_dir: Path) -> None:
    latest = artifacts_dir / "latest"
    assert latest.is_symlink()
    assert not os.path.isabs(os.readlink(latest))  # relative, so the tree can be copied
    metadata = json.loads((latest / "metadata.json").read_text())

    assert metadata["model_name"] == "iris-classifier"
    assert latest.resolve().name == metadata["model_version"]
    assert metadata["feature_names"] == FEATURES
    assert metadata["class_names"] == ["setosa", "versicolor", "virginica"]
    assert metadata["created_at"].endswith("Z")
    assert metadata["metrics"]["accuracy"] >= 0.9
    assert 0 < metadata["metrics"]["f1_macro"] <= 1
    assert set(metadata["metrics"]["per_class"]) == set(metadata["class_names"])
    matrix = np.array(metadata["metrics"]["confusion_matrix"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == metadata["metrics"]["test_rows"] == 30
    assert (
        metadata["model_sha256"]
        == hashlib.sha256((latest / "model.joblib").read_bytes()).hexdigest()
    )
    assert (
        metadata["training_data"]["sha256"]
        == hashlib.sha256((ROOT / "data" / "iris.csv").read_bytes()).hexdigest()
    )
    assert metadata["versions"]["sklearn"] == sklearn.__version__
    assert {"python", "joblib", "numpy"} <= metadata["versions"].keys()
    assert metadata["feature_ranges"]["petal_length"] == {"min": 1.0, "max": 6.9}
    assert metadata["class_priors"] == pytest.approx(
        {"setosa": 1 / 3, "versicolor": 1 / 3, "virginica": 1 / 3}
    )
    model = joblib.load(latest / "model.joblib")
    assert [step for step, _ in model.steps] == ["scaler", "classifier"]


def test_same_inputs_give_the_same_version(artifacts_dir: Path, tmp_path: Path) -> None:
    assert train(tmp_path).returncode == 0
    assert (tmp_path / "latest").resolve().name == (artifacts_dir / "latest").resolve().name
    assert train(tmp_path, "--seed", "7").returncode == 0
    assert (tmp_path / "latest").resolve().name != (artifacts_dir / "latest").resolve().name


def test_quality_gate_fails_and_leaves_latest_alone(tmp_path: Path) -> None:
    assert train(tmp_path, "--model-version", "good").returncode == 0

    result = train(tmp_path, "--model-version", "strict", "--min-accuracy", "0.999")

    assert result.returncode == 1
    assert (tmp_path / "latest").resolve().name == "good"
    assert not (tmp_path / "strict").exists()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    gate = [e for e in events if e["event"] == "quality_gate_failed"]
    assert gate[0]["min_accuracy"] == 0.999
    assert gate[0]["accuracy"] < 0.999


def test_logs_are_json_lines(tmp_path: Path) -> None:
    result = train(tmp_path)
    events = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    # Without --data: which data it trains (no served model here: the bundled Iris) first.
    assert events == ["training_data", "model_evaluated", "model_unsigned", "model_trained"]


def test_a_signing_key_signs_and_silences_the_warning(tmp_path: Path) -> None:
    signing_key, _ = keygen()
    result = train(tmp_path, MODEL_SIGNING_KEY=signing_key)
    events = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert events == ["training_data", "model_evaluated", "model_trained"]
    assert (tmp_path / "latest" / "metadata.json.sig").is_file()


def test_a_malformed_signing_key_writes_nothing(tmp_path: Path) -> None:
    result = train(tmp_path, MODEL_SIGNING_KEY="not-base64!")
    assert result.returncode == 2
    assert json.loads(result.stdout.splitlines()[-1])["event"] == "signing_key_invalid"
    assert not (tmp_path / "latest").exists()


@pytest.mark.parametrize(
    ("content", "args", "named"),
    [
        ("sepal_length,kind\n1.0,a\n2.0,b\n", [], "species"),  # no target column
        ("x,species\n1.0,setosa\n2.0,setosa\n", [], "one class"),
        ("x,species\n1.0,a\n,b\n", [], "empty values in columns ['x']"),
        # Any header is a name clients send (issue 34), but not one they cannot write plainly.
        ("bad\x01name,species\n1.0,a\n2.0,a\n3.0,b\n4.0,b\n", [], "cannot be a JSON key"),
        ("x,species\n1.5,a\n2.0,b\n", ["--column", "x=integer"], "cannot be integer"),
        ("x,species\n1.0,a\n2.0,b\n", [], "too few"),  # a class of one row cannot split
        ("x,y\n1.0,a\n2.0,b\n", ["--target", "y", "--task", "regression"], "not numeric"),
    ],
)
def test_bad_dataset_exits_2_with_a_clear_line(
    tmp_path: Path, content: str, args: list[str], named: str
) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(content)

    result = train(tmp_path / "out", "--data", str(data), *args)

    assert result.returncode == 2, result.stdout
    (line,) = (json.loads(x) for x in result.stdout.splitlines())
    assert line["event"] == "dataset_invalid"
    assert named in line["message"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("version", ["../escape", "a/b", ".hidden", "x" * 65])
def test_unsafe_model_version_is_refused(tmp_path: Path, version: str) -> None:
    result = train(tmp_path, "--model-version", version)
    assert result.returncode == 2
    assert not any(tmp_path.iterdir())


def read_lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_poisoned_training_is_recorded_and_evaluated_on_clean_rows(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    result = train(tmp_path, "--poison-level", "0.05", "--min-accuracy", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    metadata = json.loads((tmp_path / "latest" / "metadata.json").read_text())
    assert metadata["poisoning"] == {"level": 0.05, "flipped_rows": 6, "seed": 42}  # 5 % of 120
    assert metadata["params"]["poison_level"] == 0.05
    clean = json.loads((artifacts_dir / "latest" / "metadata.json").read_text())
    assert "poison_level" not in clean["params"]
    assert clean["poisoning"]["flipped_rows"] == 0
    assert metadata["model_version"] != clean["model_version"]
    assert sum(map(sum, metadata["metrics"]["confusion_matrix"])) == 30  # the clean test split
    events = [line["event"] for line in read_lines(result.stdout)]
    assert "training_labels_poisoned" in events


def test_the_quality_gate_stops_a_heavily_poisoned_model(tmp_path: Path) -> None:
    result = train(tmp_path, "--poison-level", "0.7")
    assert result.returncode == 1
    assert "quality_gate_failed" in result.stdout
    assert not (tmp_path / "latest").exists()


@pytest.mark.parametrize("level", ["1.0", "-0.1", "half"])
def test_poison_level_must_be_a_fraction_below_one(tmp_path: Path, level: str) -> None:
    result = train(tmp_path, "--poison-level", level)
    assert result.returncode == 2
    assert "--poison-level" in result.stderr


def test_training_stores_each_features_deciles(artifacts_dir: Path) -> None:
    metadata = json.loads((artifacts_dir / "latest" / "metadata.json").read_text())
    deciles = metadata["feature_deciles"]
    assert sorted(deciles) == sorted(FEATURES)
    for profile in deciles.values():
        edges, shares = profile["edges"], profile["expected_shares"]
        assert edges == sorted(set(edges))
        assert 1 <= len(edges) <= 9
        assert len(shares) == len(edges) + 1
        assert sum(shares) == pytest.approx(1.0, abs=1e-5)


def test_help_explains_every_flag_and_its_default() -> None:
    result = subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True,
        check=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    options = result.stdout.split("options:", 1)[1]
    # One block per option: its first line starts "  -", its help may continue below.
    blocks = re.split(r"\n(?=  -)", options.strip("\n"))
    helps = {re.findall(r"--[\w-]+", block)[0]: block for block in blocks}
    assert set(helps) >= {
        "--data", "--output-dir", "--seed", "--test-size", "--min-accuracy", "--model-version",
        "--c", "--max-iter", "--poison-level", "--promote",
    }  # fmt: skip
    for name, block in helps.items():
        words = re.sub(r"^\s*-[^ ]*( [A-Z_]+)?(, --[\w-]+( [A-Z_]+)?)*", "", block).strip()
        assert words, f"{name} has no help text"
        if name not in {"--help", "--model-version"}:
            assert "(default:" in block, f"{name} does not say its default"


def test_latest_is_not_a_version_name(tmp_path: Path) -> None:
    result = train(tmp_path, "--model-version", "latest")
    assert result.returncode == 2
    assert "not be 'latest'" in result.stderr
