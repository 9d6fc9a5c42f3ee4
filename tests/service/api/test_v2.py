"""The Open Inference Protocol against the real service, with a client nobody here wrote:
NVIDIA's tritonclient (HTTP). Answers equal /predict's; wrong datatypes and shapes are the
protocol's {"error": ...} 4xx with the request id in the header; the books balance."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from scripts.example_data import churn
from tests.service.api.test_predict import SETOSA, VERSICOLOR, VIRGINICA
from tests.support.service import Service, running_service, sample, train

FLOWERS = [SETOSA, VERSICOLOR, VIRGINICA]
MODEL = "iris-classifier"


def client(service: Service) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=service.url.removeprefix("http://"))


def matrix_input(rows: list[dict[str, float]], datatype: str = "FP64") -> triton.InferInput:
    tensor = triton.InferInput("input-0", [len(rows), 4], datatype)
    dtype = np.float32 if datatype == "FP32" else np.float64
    tensor.set_data_from_numpy(
        np.array([list(r.values()) for r in rows], dtype=dtype), binary_data=False
    )
    return tensor


def outputs(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in names]


def test_health_server_and_model_metadata(service: Service) -> None:
    triton_client = client(service)
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready(MODEL)
    assert not triton_client.is_model_ready("another-model")
    assert triton_client.get_server_metadata()["name"] == "glassbox"
    metadata = triton_client.get_model_metadata(MODEL)
    version = requests.get(f"{service.url}/model", timeout=5).json()["model_version"]
    assert metadata["versions"] == [version]
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (name, "FP64", [-1, 1]) for name in SETOSA
    ]
    assert {o["name"] for o in metadata["outputs"]} == {"predict", "predict_label", "predict_proba"}
    assert triton_client.get_model_metadata(MODEL, model_version=version)["name"] == MODEL


def test_single_and_batch_inference_equal_predict(service: Service) -> None:
    triton_client = client(service)
    expected = service.post("/predict/batch", {"instances": FLOWERS}).json()["predictions"]
    for rows, datatype in (([SETOSA], "FP64"), (FLOWERS, "FP64"), (FLOWERS, "FP32")):
        result = triton_client.infer(
            MODEL, [matrix_input(rows, datatype)], outputs=outputs("predict", "predict_proba")
        )
        labels = result.as_numpy("predict").tolist()
        probabilities = result.as_numpy("predict_proba")
        assert labels == [p["prediction"] for p in expected[: len(rows)]]
        if datatype == "FP64":  # the same float64 rows: the same answers
            want = [
                [p["probabilities"][c] for c in ("setosa", "versicolor", "virginica")]
                for p in expected[: len(rows)]
            ]
            np.testing.assert_array_equal(probabilities, want)
    per_input = []
    for name in SETOSA:
        tensor = triton.InferInput(name, [3, 1], "FP64")
        tensor.set_data_from_numpy(np.array([[r[name]] for r in FLOWERS]), binary_data=False)
        per_input.append(tensor)
    result = triton_client.infer(
        MODEL, per_input, outputs=outputs("predict_label"), request_id="triton-7"
    )
    assert result.as_numpy("predict_label").tolist() == ["setosa", "versicolor", "virginica"]
    assert result.get_response()["id"] == "triton-7"
    assert [o["name"] for o in result.get_response()["outputs"]] == ["predict_label"]


def test_wrong_datatypes_shapes_and_names_are_the_protocols_4xx(service: Service) -> None:
    triton_client = client(service)
    wrong_type = triton.InferInput("input-0", [1, 4], "BYTES")
    wrong_type.set_data_from_numpy(
        np.array([["a", "b", "c", "d"]], dtype=object), binary_data=False
    )
    wrong_shape = triton.InferInput("input-0", [1, 3], "FP64")
    wrong_shape.set_data_from_numpy(np.array([[5.1, 3.5, 1.4]]), binary_data=False)
    for inputs, model, said in (
        ([wrong_type], MODEL, "datatype BYTES"),
        ([wrong_shape], MODEL, r"shape \[1, 3\]"),
        ([matrix_input([SETOSA])], "another-model", "no model another-model"),
        ([matrix_input([{**SETOSA, "sepal_length": -1.0}])], MODEL, "row 0, input sepal_length"),
    ):
        with pytest.raises(InferenceServerException, match=said):
            triton_client.infer(model, inputs, outputs=outputs("predict"))
    raw = requests.post(
        f"{service.url}/v2/models/{MODEL}/infer",
        json={"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [1, 2]}]},
        headers={"X-Request-ID": "v2-bad-1"}, timeout=5,
    )  # fmt: skip
    assert raw.status_code == 400
    assert set(raw.json()) == {"error"}
    assert "has 2 elements; its shape [1, 4] needs 4" in raw.json()["error"]
    assert raw.headers["x-request-id"] == "v2-bad-1"
    (access,) = [line for line in service.lines_for("v2-bad-1") if line["event"] == "http_request"]
    assert (access["status"], access["error_code"]) == (400, "invalid_tensor")


def test_each_infer_is_one_access_line_one_sample_and_counted_drift(service: Service) -> None:
    before = service.metrics()
    version = requests.get(f"{service.url}/model", timeout=5).json()["model_version"]
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": [3, 4],
                "datatype": "FP64",
                "data": [list(r.values()) for r in FLOWERS],
            }
        ]
    }
    ids = ["v2-books-1", "v2-books-2"]
    for request_id in ids:
        assert service.post(
            f"/v2/models/{MODEL}/infer", body, headers={"X-Request-ID": request_id}
        ).ok
    for request_id in ids:
        (access,) = [
            line for line in service.lines_for(request_id) if line["event"] == "http_request"
        ]
        assert (access["path"], access["batch_size"]) == ("/v2/models/{name}/infer", 3)
    after = service.metrics()
    labels = {"handler": "/v2/models/{name}/infer", "method": "POST", "status": "200"}
    assert (
        sample(after, "http_requests_total", **labels)
        - sample(before, "http_requests_total", **labels)
        == 2
    )
    counted = sum(
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == "model_feature_values_total" and dict(key[1]).get("feature") == "petal_length"
        and dict(key[1]).get("model_version") == version
    )  # fmt: skip
    assert counted == 6


@pytest.fixture(scope="module")
def churn_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Path]]:
    directory = tmp_path_factory.mktemp("v2-churn")
    written = churn(directory)
    assert (
        train(directory / "art", "--data", str(written.path), "--target", "churned").returncode == 0
    )
    with running_service(directory / "art" / "latest", directory / "logs") as service:
        yield service, written.path


def test_categorical_inputs_go_one_tensor_each_with_bytes(
    churn_service: tuple[Service, Path],
) -> None:
    service, _ = churn_service
    triton_client = client(service)
    metadata = triton_client.get_model_metadata("churn-classifier")
    datatypes = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    assert datatypes == {
        "plan": "BYTES", "region": "BYTES", "tenure_months": "INT64", "support_calls": "INT64",
        "autopay": "BOOL", "monthly_fee": "FP64",
    }  # fmt: skip
    row = {
        "plan": "pro",
        "region": "west",
        "tenure_months": 12,
        "support_calls": 3,
        "autopay": True,
        "monthly_fee": 44.5,
    }
    dtypes: dict[str, Any] = {
        "BYTES": object,
        "INT64": np.int64,
        "BOOL": np.bool_,
        "FP64": np.float64,
    }
    values: dict[str, Any] = {
        name: np.array([[value]], dtype=dtypes[datatypes[name]]) for name, value in row.items()
    }
    tensors = []
    for name, array in values.items():
        tensor = triton.InferInput(name, [1, 1], datatypes[name])
        tensor.set_data_from_numpy(array, binary_data=False)
        tensors.append(tensor)
    result = triton_client.infer("churn-classifier", tensors, outputs=outputs("predict_proba"))
    expected = service.post("/predict", row).json()["probabilities"]
    np.testing.assert_array_equal(
        result.as_numpy("predict_proba")[0], [expected["no"], expected["yes"]]
    )
    # The same tensors in binary, tritonclient's default: BYTES length-prefixed, BOOL a byte.
    binary = []
    for name, array in values.items():
        tensor = triton.InferInput(name, [1, 1], datatypes[name])
        binary.append(tensor.set_data_from_numpy(array))
    result = triton_client.infer("churn-classifier", binary)
    np.testing.assert_array_equal(
        result.as_numpy("predict_proba")[0], [expected["no"], expected["yes"]]
    )
    wrong = triton.InferInput("plan", [1, 1], "FP64")
    wrong.set_data_from_numpy(np.array([[1.0]]), binary_data=False)
    with pytest.raises(InferenceServerException, match="category input takes BYTES"):
        triton_client.infer("churn-classifier", [wrong, *tensors[1:]], outputs=outputs("predict"))


def test_tritonclient_with_its_defaults_binary_tensors_both_ways(service: Service) -> None:
    """Issue 34: tritonclient sends and asks for binary tensors unless told otherwise
    (`set_data_from_numpy(array)`, no outputs named: `binary_data_output`), and was
    answered 400. One row and a batch of 100, as people call it: the answers equal
    /predict/batch's bit for bit, and each is one access line and one metrics sample."""
    triton_client = client(service)
    assert "binary_tensor_data" in triton_client.get_server_metadata()["extensions"]
    rows = [FLOWERS[i % 3] for i in range(100)]
    expected = service.post("/predict/batch", {"instances": rows}).json()["predictions"]
    before = service.metrics()
    for count in (1, 100):
        tensor = triton.InferInput("input-0", [count, 4], "FP64")
        tensor.set_data_from_numpy(np.array([list(r.values()) for r in rows[:count]]))
        result = triton_client.infer(MODEL, [tensor], headers={"X-Request-ID": f"binary-{count}"})
        outputs_sent = result.get_response()["outputs"]
        assert all("data" not in output for output in outputs_sent)  # all came in binary
        assert result.as_numpy("predict").tolist() == [p["prediction"] for p in expected[:count]]
        assert result.as_numpy("predict_label").tolist() == [
            p["prediction_label"].encode() for p in expected[:count]
        ]
        np.testing.assert_array_equal(
            result.as_numpy("predict_proba"),
            [[p["probabilities"][c] for c in ("setosa", "versicolor", "virginica")]
             for p in expected[:count]],
        )  # fmt: skip
        (access,) = [
            line for line in service.lines_for(f"binary-{count}")
            if line["event"] == "http_request"
        ]  # fmt: skip
        assert (access["status"], access["batch_size"]) == (200, count)
    labels = {"handler": "/v2/models/{name}/infer", "method": "POST", "status": "200"}
    served = sample(service.metrics(), "http_requests_total", **labels)
    assert served - sample(before, "http_requests_total", **labels) == 2
    # Binary in, JSON out for the outputs that say so; FP32 binary too.
    tensor = triton.InferInput("input-0", [3, 4], "FP32")
    tensor.set_data_from_numpy(np.array([list(r.values()) for r in FLOWERS], dtype=np.float32))
    result = triton_client.infer(
        MODEL, [tensor], outputs=[triton.InferRequestedOutput("predict_label", binary_data=False)]
    )
    assert result.get_response()["outputs"][0]["data"] == ["setosa", "versicolor", "virginica"]


def test_binary_tensors_that_do_not_add_up_are_the_protocols_400(service: Service) -> None:
    url = f"{service.url}/v2/models/{MODEL}/infer"
    data = np.array([list(SETOSA.values())], dtype="<f8").tobytes()

    def send(header: dict[str, Any], binary: bytes, length: int | None = None) -> Any:
        head = json.dumps(header).encode()
        size = str(len(head) if length is None else length)
        return requests.post(
            url, data=head + binary, timeout=5,
            headers={"Inference-Header-Content-Length": size},
        )  # fmt: skip

    def tensor(size: int, **extra: Any) -> dict[str, Any]:
        return {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                            "parameters": {"binary_data_size": size}, **extra}]}  # fmt: skip

    assert send(tensor(32), data).status_code == 200
    for header, binary, length, said in (
        (tensor(32), data[:-8], None, "only 24 bytes of binary data are left"),
        (tensor(24), data, None, "8 bytes of binary data follow the JSON header"),
        (tensor(30), data[:30], None, "not whole FP64 elements"),
        (tensor(32, data=[1, 2, 3, 4]), data, None, "both data and binary_data_size"),
        (tensor(32), data, 10**6, "Inference-Header-Content-Length is '1000000'"),
        (tensor(32), data, 0, "Inference-Header-Content-Length is '0'"),
    ):
        answer = send(header, binary, length)
        assert answer.status_code == 400, (said, answer.text)
        assert said in answer.json()["error"]
    # The same byte budget as a JSON body: a binary batch over MAX_BATCH_SIZE's worth, unread.
    huge = np.zeros((100_000, 4)).astype("<f8").tobytes()
    assert send(tensor(len(huge)), huge).status_code == 413
