"""wrap.py: a pipeline a team already fitted (on a DataFrame, with categories) becomes an
artifact that the real service serves, with the same checks a trained one gets."""

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from app.ml.signing import keygen
from scripts.example_data import churn
from tests.support.service import ROOT, running_service


def wrap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "wrap.py", *args], cwd=ROOT, capture_output=True, text=True,
        check=False, env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip


def last_line(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    line: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return line


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """The team's own pipeline, fitted on a DataFrame with pandas dtypes."""
    directory = tmp_path_factory.mktemp("wrap")
    written = churn(directory)
    frame = pd.read_csv(written.path)
    x, y = frame.drop(columns=["churned"]), frame["churned"]
    prepare = ColumnTransformer(
        [
            ("n", StandardScaler(), ["tenure_months", "support_calls", "monthly_fee"]),
            ("c", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
            ("b", "passthrough", ["autopay"]),
        ]
    )
    x = x.assign(autopay=x["autopay"].astype(float))
    model = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=500))]).fit(x, y)
    joblib.dump(model, directory / "churn_model.joblib")
    return directory / "churn_model.joblib", written.path, x


def test_a_wrapped_pipeline_serves_its_own_answers(
    fitted: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model_file, sample, x = fitted
    private, public = keygen()
    result = wrap(
        "--model", str(model_file), "--sample", str(sample), "--target", "churned",
        "--output-dir", str(tmp_path), "--promote", MODEL_SIGNING_KEY=private,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    line = last_line(result)
    assert line["event"] == "model_wrapped"
    assert line["onnx_export"] == "exported"
    assert line["signed"] is True
    metadata = json.loads((tmp_path / "latest" / "metadata.json").read_text())
    assert metadata["class_names"] == ["no", "yes"]
    assert set(metadata["class_priors"]) == {"no", "yes"}
    # The sample's target also fitted the calibration its accuracy is estimated with.
    assert (metadata["estimation"]["kind"], metadata["estimation"]["source"]) == (
        "cbpe", "wrap sample",
    )  # fmt: skip
    assert metadata["inputs"][0] == {
        "name": "plan", "type": "category", "categories": ["basic", "pro", "team"],
    }  # fmt: skip
    model = joblib.load(model_file)
    expected = model.predict_proba(x.iloc[:20])
    rows = [
        {**row, "autopay": bool(row["autopay"])} for row in x.iloc[:20].to_dict(orient="records")
    ]
    with running_service(
        tmp_path / "latest", tmp_path / "logs", MODEL_PUBLIC_KEY=public
    ) as service:
        answer = service.post("/predict/batch", {"instances": rows})
        assert answer.status_code == 200, answer.text
        got = np.array(
            [
                [p["probabilities"]["no"], p["probabilities"]["yes"]]
                for p in answer.json()["predictions"]
            ]
        )
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        model_info = service.post("/predict", {**rows[0], "plan": "enterprise"})
        assert model_info.status_code == 200  # an unseen category is served (and counted)
        scraped = service.metrics()
        unseen = [
            value for (name, labels), value in scraped.items()
            if name == "model_feature_out_of_range_total" and dict(labels)["side"] == "unseen"
            and dict(labels)["feature"] == "plan"
        ]  # fmt: skip
        assert unseen == [1.0]
        estimated = [
            value for (name, labels), value in scraped.items()
            if name == "model_estimated_rows_total" and dict(labels)["role"] == "primary"
        ]  # fmt: skip
        assert estimated == [len(rows) + 1]
        loaded = service.wait_for_log("model_loaded")[0]
        assert (loaded["inference_path"], loaded["signature_verified"]) == ("onnxruntime", True)


def test_a_model_onnx_cannot_convert_is_served_by_sklearn_with_the_reason(
    fitted: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    _, _sample, x = fitted
    numeric = x[["tenure_months", "support_calls", "monthly_fee"]]
    model = Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("forest", RandomForestRegressor(n_estimators=5))]
    ).fit(numeric, numeric["monthly_fee"] * 2)
    joblib.dump(model, tmp_path / "fee.joblib")
    # With its target, the sample fits the regressor's loss model too (a forest: no ONNX).
    numeric.assign(fee=numeric["monthly_fee"] * 2).to_csv(tmp_path / "fee.csv", index=False)
    result = wrap(
        "--model", str(tmp_path / "fee.joblib"), "--sample", str(tmp_path / "fee.csv"),
        "--target", "fee", "--output-dir", str(tmp_path / "out"), "--promote",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(last_line(result)["onnx_export"]).startswith("failed:")
    with running_service(tmp_path / "out" / "latest", tmp_path / "logs") as service:
        (fallback,) = service.wait_for_log("inference_fallback")
        assert "no ONNX export" in fallback["reason"]
        served = requests.get(f"{service.url}/model", timeout=5).json()
        assert served["inference_path"] == "sklearn"
        assert served["inference_fallback_reason"] == fallback["reason"]
        row = {key: float(value) for key, value in numeric.iloc[0].items()}
        for key in ("tenure_months", "support_calls"):
            row[key] = int(row[key])
        answer = service.post("/predict", row)
        assert answer.status_code == 200, answer.text
        assert answer.json()["prediction"] == pytest.approx(model.predict(numeric.iloc[:1])[0])
        estimated = {
            name: value for (name, labels), value in service.metrics().items()
            if name.startswith("model_estimated_") and dict(labels)["role"] == "primary"
        }  # fmt: skip
        assert estimated["model_estimated_rows_total"] == 1
        assert estimated["model_estimated_absolute_error_total"] >= 0


def test_a_sample_that_does_not_fit_the_model_is_refused(
    fitted: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model_file, _sample, x = fitted
    x.drop(columns=["region"]).to_csv(tmp_path / "short.csv", index=False)
    result = wrap("--model", str(model_file), "--sample", str(tmp_path / "short.csv"),
                  "--output-dir", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2
    line = last_line(result)
    assert line["event"] == "wrap_failed"
    assert "different number of features" in str(line["message"])
    assert not (tmp_path / "out").exists()


def test_a_pickle_from_another_scikit_learn_is_refused(
    fitted: tuple[Path, Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service refuses a model trained with another scikit-learn minor; so does wrap."""
    import sklearn.base

    model_file, sample, _ = fitted
    model = joblib.load(model_file)
    monkeypatch.setattr(sklearn.base, "__version__", "1.2.2")  # what the pickle records
    joblib.dump(model, tmp_path / "old.joblib")
    monkeypatch.undo()
    result = wrap("--model", str(tmp_path / "old.joblib"), "--sample", str(sample),
                  "--target", "churned", "--output-dir", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2
    line = last_line(result)
    assert (line["event"], line["trained_sklearn_version"]) == ("sklearn_version_mismatch", "1.2.2")
    assert not (tmp_path / "out").exists()


def fit_and_wrap(x: pd.DataFrame, y: pd.Series, stem: Path) -> Pipeline:
    """A team's pipeline fitted on its own frame, wrapped with that frame (and target `y`)
    as the sample into stem's folder `out`, promoted."""
    model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))])
    model.fit(x, y)
    joblib.dump(model, stem.with_suffix(".joblib"))
    x.assign(**{str(y.name): y}).to_csv(stem.with_suffix(".csv"), index=False)
    result = wrap(
        "--model", str(stem.with_suffix(".joblib")), "--sample", str(stem.with_suffix(".csv")),
        "--target", str(y.name), "--output-dir", str(stem.parent / "out"), "--promote",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return model


def test_scikit_learns_own_frames_are_served_by_their_column_names(tmp_path: Path) -> None:
    """Issue 34: wrapping an estimator fitted on load_wine's own DataFrame was refused
    ('od280/od315_of_diluted_wines' is not a valid field name ... rename it in the data);
    renaming means refitting. Every column name is the JSON key clients send, in /predict,
    the V2 tensors and the OpenAPI document alike."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    x, y = wine.data, wine.target.map(dict(enumerate(wine.target_names)))
    model = fit_and_wrap(x, y.rename("cultivar"), tmp_path / "wine")
    slashed = "od280/od315_of_diluted_wines"
    with running_service(tmp_path / "out" / "latest", tmp_path / "logs") as service:
        schema = requests.get(f"{service.url}/openapi.json", timeout=5).json()
        (row_schema,) = [
            body for name, body in schema["components"]["schemas"].items()
            if name.endswith("Features")
        ]  # fmt: skip
        assert list(row_schema["properties"]) == list(x.columns)
        rows = x.iloc[:5].to_dict(orient="records")
        answer = service.post("/predict/batch", {"instances": rows})
        assert answer.status_code == 200, answer.text
        expected = model.predict_proba(x.iloc[:5])
        got = [list(p["probabilities"].values()) for p in answer.json()["predictions"]]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        missing = service.post("/predict", {k: v for k, v in rows[0].items() if k != slashed})
        assert missing.status_code == 422
        assert missing.json()["error"]["message"] == f"invalid fields: {slashed}"
        tensors = {
            "inputs": [
                {"name": name, "shape": [5], "datatype": "FP64", "data": list(x[name].iloc[:5])}
                for name in x.columns
            ]
        }
        v2 = service.post("/v2/models/wine/infer", tensors)
        assert v2.status_code == 200, v2.text
        (probabilities,) = [out for out in v2.json()["outputs"] if out["name"] == "predict_proba"]
        np.testing.assert_allclose(
            np.reshape(probabilities["data"], (5, 3)), expected, rtol=0, atol=1e-9
        )


def test_a_boolean_target_takes_json_booleans_as_labels(tmp_path: Path) -> None:
    """Issue 34: a boolean target becomes the classes "False"/"True"; a JSON `true` sent as
    its /feedback label got `invalid fields: label.constrained-str, label.float` (pydantic's
    own names for a union's members). It names the class True now; a label of no accepted
    type gets one error naming the field alone."""
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer(as_frame=True)
    x, malignant = cancer.data, cancer.target == 0  # columns like "mean radius"
    model = fit_and_wrap(x, malignant.rename("malignant"), tmp_path / "cancer")
    metadata = json.loads((tmp_path / "out" / "latest" / "metadata.json").read_text())
    assert metadata["class_names"] == ["False", "True"]
    with running_service(tmp_path / "out" / "latest", tmp_path / "logs") as service:
        answer = service.post("/predict", x.iloc[0].to_dict())
        assert answer.status_code == 200, answer.text
        said = answer.json()
        assert said["prediction_label"] == str(bool(model.predict(x.iloc[:1])[0]))
        request_id = said["request_id"]
        truth = bool(malignant.iloc[0])
        labelled = service.post("/feedback", {"request_id": request_id, "label": truth})
        assert labelled.status_code == 200, labelled.text
        assert labelled.json()["status"] == "recorded"
        for wrong in ([True], None, {"class": "True"}):
            refused = service.post("/feedback", {"request_id": request_id, "label": wrong})
            assert refused.status_code == 422
            error = refused.json()["error"]
            assert error["message"] == "invalid fields: label", error
            assert [d["field"] for d in error["details"]] == ["label"]
        bad = service.post(
            "/v2/models/cancer/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}],
             "parameters": {"x": [1]}},
        )  # fmt: skip
        assert bad.status_code == 400
        said = "invalid parameters.x: a parameter is a string, number or boolean"
        assert bad.json()["error"] == said
