"""checkov's Kubernetes policies over every rendered scenario: no failure without a reason."""

import json
import re
import subprocess
from pathlib import Path

from tests.external.helm.chart import CHART, SCENARIOS, helm, template_args
from tests.support.service import ROOT

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
SKIP = re.compile(r"checkov\.io/skip\d+: (CKV_K8S_\d+)=(.+)")


def test_checkov_finds_no_unjustified_failure(tmp_path: Path) -> None:
    assert CHECKOV.exists(), "run `make tools` to install checkov"
    for name, values in SCENARIOS.items():
        result = helm(*template_args(values))
        assert result.returncode == 0, result.stderr
        (tmp_path / f"{name.replace('/', '-')}.yaml").write_text(result.stdout)
    for manifest in (ROOT / "k8s").rglob("*.yaml"):  # the plain manifests and load test too
        (tmp_path / f"k8s-{manifest.parent.name}-{manifest.name}").write_text(manifest.read_text())

    scan = subprocess.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download",
         "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    reports = json.loads(scan.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    assert sum(report["summary"]["passed"] for report in reports) > 500


def test_every_policy_skip_says_why() -> None:
    text = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())
    skips = SKIP.findall(text)
    assert skips, "the skips are expected to be declared in the templates"
    for check, reason in skips:
        assert len(reason.split()) >= 5, f"{check}: give a real reason"
