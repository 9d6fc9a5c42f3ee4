"""The model's contract: types inferred from training values, overrides, what is stored,
and which differences make a new API shape."""

import pytest

from app.ml.building.dataset import load_dataset
from app.ml.contract import Contract, ContractError, Input, infer_inputs
from tests.support.service import ROOT


def test_types_are_inferred_from_the_values_as_written() -> None:
    names = ["flag", "count", "price", "plan"]
    columns = [
        ["true", "False", "TRUE"],
        ["3", "-2", "14"],
        ["3.0", "2", "1e3"],  # "3.0" is written as a decimal: a number, not an integer
        ["basic", "2", "pro"],
    ]
    inputs = infer_inputs(names, columns, {})
    assert [item.kind for item in inputs] == ["boolean", "integer", "number", "category"]
    assert (inputs[1].minimum, inputs[1].maximum) == (-2.0, 14.0)
    assert inputs[3].categories == ("2", "basic", "pro")


def test_an_override_wins_and_a_wrong_one_is_refused() -> None:
    (zip_code,) = infer_inputs(["zip"], [["1000", "2000", "1000"]], {"zip": "category"})
    assert (zip_code.kind, zip_code.categories) == ("category", ("1000", "2000"))
    with pytest.raises(ContractError, match="cannot be integer"):
        infer_inputs(["x"], [["1.5", "2"]], {"x": "integer"})
    with pytest.raises(ContractError, match="not in the data"):
        infer_inputs(["x"], [["1"]], {"y": "number"})
    # Any name a DataFrame column can have is an input (issue 34: load_wine's was refused);
    # only one no client can write plainly is not.
    (wine,) = infer_inputs(["od280/od315_of_diluted_wines"], [["1"]], {})
    assert wine.name == "od280/od315_of_diluted_wines"
    for unwritable in ("", "tab\there", "x" * 257):
        with pytest.raises(ContractError, match="cannot be a JSON key"):
            infer_inputs([unwritable], [["1"]], {})


def test_the_iris_contract_file_declares_the_apis_bounds() -> None:
    contract = load_dataset(ROOT / "data" / "iris.csv").contract
    assert contract.task == "classification"
    assert contract.class_names == ("setosa", "versicolor", "virginica")
    for item in contract.inputs:
        assert (item.kind, dict(item.bounds)) == ("number", {"gt": 0.0, "le": 100.0})
        assert item.description == "Centimetres, 0 < x ≤ 100."


def test_the_stored_contract_reads_back_equal() -> None:
    contract = Contract(
        "classification",
        (
            Input("plan", "category", categories=("a", "b")),
            Input("age", "integer", 18.0, 90.0, bounds={"ge": 0.0}),
            Input("vip", "boolean", 0.0, 1.0),
        ),
        ("no", "yes"),
    )
    assert Contract.from_metadata(contract.to_metadata()) == contract


def test_an_artifact_from_before_contracts_is_a_numeric_classifier() -> None:
    legacy = {
        "feature_names": ["a", "b"],
        "class_names": ["x", "y"],
        "feature_ranges": {"a": {"min": 0, "max": 1}, "b": {"min": 2, "max": 3}},
    }
    contract = Contract.from_metadata(legacy)
    assert contract.task == "classification"
    assert [(i.name, i.kind, i.minimum, i.maximum) for i in contract.inputs] == [
        ("a", "number", 0.0, 1.0), ("b", "number", 2.0, 3.0),
    ]  # fmt: skip


def test_only_names_types_bounds_and_task_make_the_api_shape() -> None:
    base = Contract("regression", (Input("x", "number", 0.0, 1.0),))
    retrained = Contract("regression", (Input("x", "number", -5.0, 9.0),))
    assert base.shape == retrained.shape  # new ranges: can be hot-swapped
    for other in (
        Contract("regression", (Input("y", "number", 0.0, 1.0),)),
        Contract("regression", (Input("x", "integer", 0.0, 1.0),)),
        Contract("regression", (Input("x", "number", 0.0, 1.0, bounds={"gt": 0.0}),)),
        Contract("classification", (Input("x", "number"),), ("a", "b")),
    ):
        assert other.shape != base.shape


def test_invalid_contracts_are_refused() -> None:
    with pytest.raises(ContractError, match="two class names"):
        Contract("classification", (Input("x", "number"),), ("only",))
    with pytest.raises(ContractError, match="repeat"):
        Contract("regression", (Input("x", "number"), Input("x", "number")))
    with pytest.raises(ContractError, match="not one of"):
        Contract.from_metadata({"inputs": [{"name": "x", "type": "text"}], "task": "regression"})
