"""Schemathesis against the running service's own OpenAPI document: every check, seeded and
bounded so a failure reproduces, never a 5xx, a response off its schema, or a bad body
accepted (issue 9 ran 5,548 cases; the suite keeps a fixed slice of that).

The Open Inference Protocol's infer routes take the protocol's generic request, whose
validity depends on the served model's inputs (names, datatypes, shapes), which its schema
cannot say: they run every check but "a schema-valid request is accepted". So do the
feedback routes: whether a label is valid depends on the model that made the prediction it
names (its classes, which may change with a hot swap), which no schema can say either."""

import subprocess

from tests.support.service import VENV_BIN, Service

SEED = "20261123"
MODEL_DEPENDENT = r"^/v2/models/.*/infer$|^/feedback"


def schemathesis(service: Service, *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(VENV_BIN / "schemathesis"), "run", f"{service.url}/openapi.json",
            "--checks", "all", "--max-examples", "40", "--seed", SEED,
            "--generation-database", "none", "--no-color", *selection,
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_schemathesis_finds_no_issue(service: Service) -> None:
    for result in (
        schemathesis(service, "--exclude-path-regex", MODEL_DEPENDENT),
        schemathesis(
            service,
            "--include-path-regex",
            MODEL_DEPENDENT,
            "--exclude-checks",
            "positive_data_acceptance",
        ),
    ):
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
        assert " passed" in result.stdout
        assert " failed" not in result.stdout
        # /v2/models/{name}... with a random name answers 404: schemathesis's only warning
        # then is "missing test data"; anything else it reports fails.
        assert "No issues found" in result.stdout or "Missing test data" in result.stdout
