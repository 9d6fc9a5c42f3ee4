"""The shipped Promtail relabeling and stages, run in Python against the fixtures' paths and
metadata: what the real-binary tests rely on, checked where no Promtail runs (`make test`).

A pod log laid out by the fixture under another UID than discovery reports, or a label the
collector adds and the pipeline forgets to drop, fails here first.
"""

import glob
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.external.logs.servers import (
    CONTAINER_META,
    DOCUMENTED_LABELS,
    KUBELET_LOG_ROOT,
    POD_META,
    PROMTAIL_COMPOSE,
    PROMTAIL_KUBERNETES,
    docker_log_path,
    kubelet_log_path,
    promtail_overlay,
)
from tests.unit.logs.relabeling import relabel, stream_labels

SHIPPED = {"kubernetes": PROMTAIL_KUBERNETES, "compose": PROMTAIL_COMPOSE}
META = {"kubernetes": POD_META, "compose": CONTAINER_META}


def shipped_job(name: str) -> dict[str, Any]:
    (job,) = yaml.safe_load(SHIPPED[name].read_text())["scrape_configs"]
    assert isinstance(job, dict)
    return job


def test_the_shipped_path_pattern_finds_the_file_the_kubelet_writes(tmp_path: Path) -> None:
    job = shipped_job("kubernetes")
    labels = relabel(job["relabel_configs"], POD_META)
    assert labels is not None
    pattern = labels["__path__"]
    assert pattern.startswith(KUBELET_LOG_ROOT)
    ours = kubelet_log_path(tmp_path)
    other_pod = kubelet_log_path(tmp_path, {**POD_META, "__meta_kubernetes_pod_uid": "1" * 36})
    for path in (ours, other_pod):
        path.parent.mkdir(parents=True)
        path.touch()
    found = glob.glob(pattern.replace(KUBELET_LOG_ROOT, f"{tmp_path}/"))
    assert found == [str(ours)]


@pytest.mark.parametrize("pipeline", SHIPPED)
def test_the_overlay_tails_the_file_the_fixture_lays_out(pipeline: str, tmp_path: Path) -> None:
    """What would have stopped every real-log test at setup: the overlay's target and the
    fixture's file disagreeing about the pod UID."""
    overlay = promtail_overlay(SHIPPED[pipeline], tmp_path, "http://127.0.0.1:3100", tmp_path, 9)
    (job,) = overlay["scrape_configs"]
    (target,) = job["static_configs"]
    labels = relabel(job["relabel_configs"], target["labels"])
    assert labels is not None
    expected = {"kubernetes": kubelet_log_path, "compose": docker_log_path}[pipeline](tmp_path)
    expected.parent.mkdir(parents=True)
    expected.touch()
    assert glob.glob(labels["__path__"]) == [str(expected)]


@pytest.mark.parametrize("pipeline", SHIPPED)
def test_glassbox_streams_carry_exactly_the_documented_labels(pipeline: str) -> None:
    job = shipped_job(pipeline)
    labels = stream_labels(job, META[pipeline], "/somewhere/0.log")
    assert labels == DOCUMENTED_LABELS


def test_the_model_sees_the_labels_a_collector_adds() -> None:
    """The check above can fail: without the final labeldrop the model keeps `filename`
    (the tailer) and `stream` (the cri stage), as real Promtail 3.5.1 did."""
    job = shipped_job("kubernetes")
    stages = [stage for stage in job["pipeline_stages"] if "labeldrop" not in stage]
    labels = stream_labels({**job, "pipeline_stages": stages}, POD_META, "/x/0.log")
    assert labels == DOCUMENTED_LABELS | {"filename", "stream"}


def test_relabeling_follows_prometheus_semantics() -> None:
    rules = [
        {"source_labels": ["phase"], "action": "drop", "regex": "Pending|Failed"},
        {"source_labels": ["name"], "regex": "/(.*)", "target_label": "pod"},
        {"source_labels": ["a", "b"], "separator": "/", "target_label": "ab"},
        {"source_labels": ["missing"], "target_label": "gone"},
    ]
    found = {"phase": "Running", "name": "/web-1", "a": "x", "b": "y"}
    assert relabel(rules, {**found, "gone": "1"}) == {**found, "pod": "web-1", "ab": "x/y"}
    assert relabel(rules, {"phase": "Pending"}) is None
    assert relabel(rules, {"phase": "PendingX", "name": "no-slash"}) == {
        "phase": "PendingX",
        "name": "no-slash",
        "ab": "/",
    }  # anchored regexes: neither "PendingX" nor "no-slash" match
