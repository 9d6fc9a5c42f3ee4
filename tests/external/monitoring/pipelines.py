"""The log pipeline of monitoring/promtail/, and a check that an Alloy config matches it.

Promtail's Glassbox stages are the reference; the cluster and compose Alloy configs
must extract the same JSON keys, set the same labels and the same structured metadata.
"""

import re
from typing import Any

import yaml

from tests.support.service import ROOT

PROMTAIL = ROOT / "monitoring" / "promtail" / "promtail.yaml"


def promtail_job() -> dict[str, Any]:
    (job,) = yaml.safe_load(PROMTAIL.read_text())["scrape_configs"]
    assert isinstance(job, dict)
    return job


def glassbox_stages() -> dict[str, Any]:
    """The stages Promtail runs on Glassbox lines, by stage name."""
    job = promtail_job()
    assert list(job["pipeline_stages"][0]) == ["cri"], "container runtime lines come first"
    (match,) = [stage["match"] for stage in job["pipeline_stages"] if "match" in stage]
    assert match["selector"] == '{app="glassbox"}'
    return {name: body for stage in match["stages"] for name, body in stage.items()}


def dropped_labels() -> list[str]:
    """The labels Promtail drops last, for every stream it ships."""
    last = promtail_job()["pipeline_stages"][-1]
    assert list(last) == ["labeldrop"], "the collector's own labels are dropped last"
    dropped: list[str] = last["labeldrop"]
    return dropped


def assert_alloy_matches_promtail(config: str) -> None:
    stages = glassbox_stages()
    assert 'selector = "{app=\\"glassbox\\"}"' in config
    for key, source in stages["json"]["expressions"].items():
        assert re.search(rf'{key}\s*=\s*"{source}"', config), key
    labels = re.search(r"stage\.labels \{\s*values = \{ (.*?) \}", config)
    assert labels is not None
    assert re.findall(r"(\w+) = \"\"", labels.group(1)) == list(stages["labels"])
    metadata = re.search(r"stage\.structured_metadata \{\s*values = \{ (.*?) \}", config)
    assert metadata is not None
    assert re.findall(r"(\w+) = \"\"", metadata.group(1)) == list(stages["structured_metadata"])
    dropped = re.search(r"stage\.label_drop \{\s*values = \[(.*?)\]", config)
    assert dropped is not None
    assert re.findall(r'"(\w+)"', dropped.group(1)) == dropped_labels()
    assert config.count("{") == config.count("}")
