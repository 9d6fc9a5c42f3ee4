"""FEEDBACK_TOKEN: /feedback takes labels only from the caller holding it (401 JSON
otherwise, counted, logged without the token); predictions need none. The token comes
from the environment or, as the chart passes it, from a file in SECRETS_DIR."""

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.service import VALID_FLOWER, free_port, running_service, sample

TOKEN = "a-token-of-the-label-pipeline-0123456789"


@pytest.mark.parametrize("passed_as", ["environment", "file"])
def test_only_the_token_holder_labels(model_dir: Path, tmp_path: Path, passed_as: str) -> None:
    env: dict[str, Any] = {"FEEDBACK_TOKEN": TOKEN}
    if passed_as == "file":
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "FEEDBACK_TOKEN").write_text(TOKEN + "\n")  # as `kubectl create secret`
        env = {"SECRETS_DIR": str(secrets)}
    with running_service(model_dir, tmp_path, **env) as service:
        predicted = service.post("/predict", VALID_FLOWER)  # predictions need no token
        assert predicted.status_code == 200
        label = {"request_id": predicted.json()["request_id"], "label": "setosa"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            refused = service.post("/feedback", label, headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["code"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
        accepted = service.post("/feedback", label, headers={"Authorization": f"Bearer {TOKEN}"})
        assert accepted.status_code == 200
        assert accepted.json()["status"] == "recorded"
        scraped = service.metrics()
        assert sample(scraped, "http_requests_total", handler="/feedback", method="POST",
                      status="401") == 3  # fmt: skip
        lines = service.raw_lines()
        assert not any(TOKEN in line for line in lines)
        refusals = [
            line for line in service.log_lines()
            if line.get("event") == "http_request" and line.get("status") == 401
        ]  # fmt: skip
        assert [line["error_code"] for line in refusals] == ["unauthorized"] * 3


def test_a_feedback_port_takes_labels_and_the_main_port_does_not(
    model_dir: Path, tmp_path: Path
) -> None:
    """FEEDBACK_PORT: /feedback answers there only (404 on PORT), so a NetworkPolicy can
    admit the label pipeline to that port alone; predictions stay on PORT."""
    port = free_port()
    with running_service(model_dir, tmp_path, FEEDBACK_PORT=str(port)) as service:
        predicted = service.post("/predict", VALID_FLOWER)
        label = {"request_id": predicted.json()["request_id"], "label": "setosa"}
        for path, body in (("/feedback", label), ("/feedback/batch", {"feedback": [label]})):
            hidden = service.post(path, body)
            assert hidden.status_code == 404, path
            assert hidden.json()["error"]["code"] == "not_found"
        accepted = requests.post(f"http://127.0.0.1:{port}/feedback", json=label, timeout=5)
        assert accepted.status_code == 200
        assert accepted.json()["status"] == "recorded"
