"""FEEDBACK_TOKEN: /feedback takes labels only from the caller holding it (401 JSON
otherwise, counted, logged without the token); predictions need none."""

from pathlib import Path

from tests.support.service import VALID_FLOWER, running_service, sample

TOKEN = "a-token-of-the-label-pipeline-0123456789"


def test_only_the_token_holder_labels(model_dir: Path, tmp_path: Path) -> None:
    with running_service(model_dir, tmp_path, FEEDBACK_TOKEN=TOKEN) as service:
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
