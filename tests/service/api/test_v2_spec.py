"""Every V2 response of the real service validates against the protocol's own published
OpenAPI document (vendored unmodified, Apache 2.0: tests/data/open-inference-protocol/)."""

from typing import Any

import jsonschema
import pytest
import requests
import yaml

from tests.service.api.test_predict import SETOSA, VIRGINICA
from tests.support.service import ROOT, Service

SPEC = yaml.safe_load(
    (ROOT / "tests" / "data" / "open-inference-protocol" / "open_inference_rest.yaml").read_text()
)
MODEL = "iris-classifier"


def check(body: Any, schema: str) -> None:
    """Validate against components/schemas/<schema>, resolving the document's own $refs."""
    wrapper = {"$ref": f"#/components/schemas/{schema}", "components": SPEC["components"]}
    jsonschema.validate(body, wrapper)


def test_the_checker_refuses_a_response_the_spec_does_not_allow() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check(
            {"outputs": [{"name": "predict", "shape": "one", "datatype": "FP64"}]},
            "inference_response",
        )


def test_metadata_responses_follow_the_spec(service: Service) -> None:
    check(requests.get(f"{service.url}/v2", timeout=5).json(), "metadata_server_response")
    check(
        requests.get(f"{service.url}/v2/models/{MODEL}", timeout=5).json(),
        "metadata_model_response",
    )
    missing = requests.get(f"{service.url}/v2/models/nope", timeout=5)
    assert missing.status_code == 404
    check(missing.json(), "metadata_model_error_response")


@pytest.mark.parametrize(
    "body",
    [
        {"id": "7", "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                                "data": [list(SETOSA.values()), list(VIRGINICA.values())]}]},
        {"inputs": [{"name": n, "shape": [1], "datatype": "FP32", "data": [v]}
                    for n, v in SETOSA.items()],
         "outputs": [{"name": "predict_proba"}]},
    ],
)  # fmt: skip
def test_inference_requests_and_responses_follow_the_spec(service: Service, body: Any) -> None:
    check(body, "inference_request")  # what we send is a valid request, too
    response = service.post(f"/v2/models/{MODEL}/infer", body)
    assert response.status_code == 200, response.text
    check(response.json(), "inference_response")
    refused = service.post(f"/v2/models/{MODEL}/infer", {"inputs": []})
    assert refused.status_code == 400
    check(refused.json(), "inference_error_response")


def test_default_outputs_are_the_advertised_ones() -> None:
    from app.api.oip import model_outputs, output_names
    from app.ml.contract import Contract, Input

    for contract in (
        Contract("regression", (Input("x", "number"),)),
        Contract("classification", (Input("x", "number"),), ("a", "b")),
    ):
        assert output_names(contract.task) == [t.name for t in model_outputs(contract)]
