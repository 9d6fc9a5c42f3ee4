"""Whether a candidate earned its promotion in the shadow: asked of Prometheus.

While a candidate runs as the shadow (SHADOW_MODEL_DIR, app/ml/quality/shadow.py), every replica
counts how often it agreed with the served model and, with ground truth from /feedback,
how often it was right. `make promote` reads those counts over PROMOTE_WINDOW from the
Prometheus at PROMETHEUS_URL (summed over every replica it scrapes) and refuses the
candidate, saying why, when:

- it never ran in the shadow there (no scored rows in the window);
- it agreed with the served model on fewer than PROMOTE_MIN_AGREEMENT of its rows;
- with at least PROMOTE_MIN_LABELS labelled rows: its live accuracy is more than
  PROMOTE_MAX_ACCURACY_LOSS below the served model's (a regressor: its MAE more than
  PROMOTE_MAX_MAE_INCREASE above).

Fewer labels than that: the verdict rests on agreement alone, and says so. The defaults
match the dashboards' thresholds (monitoring/mixin/config.py; a test holds them equal).
"""

import json
import math
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

MIN_AGREEMENT = 0.9
MAX_ACCURACY_LOSS = 0.02
MAX_MAE_INCREASE = 0.1
MIN_LABELS = 50
WINDOW = "1h"
SELECTOR = 'job="glassbox"'


class GateUnavailableError(Exception):
    """Prometheus could not be asked: no verdict either way."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShadowGate:
    prometheus_url: str
    selector: str = SELECTOR
    window: str = WINDOW
    min_agreement: float = MIN_AGREEMENT
    max_accuracy_loss: float = MAX_ACCURACY_LOSS
    max_mae_increase: float = MAX_MAE_INCREASE
    min_labels: int = MIN_LABELS

    @classmethod
    def from_env(cls) -> "ShadowGate | None":
        """The gate PROMETHEUS_URL and the PROMOTE_* variables describe; None without a URL."""
        url = os.environ.get("PROMETHEUS_URL", "")
        if not url:
            return None
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise GateUnavailableError(f"PROMETHEUS_URL must be http(s)://, not {url!r}")
        env = os.environ.get
        return cls(
            url.rstrip("/"),
            env("PROMOTE_SELECTOR", SELECTOR),
            env("PROMOTE_WINDOW", WINDOW),
            float(env("PROMOTE_MIN_AGREEMENT", MIN_AGREEMENT)),
            float(env("PROMOTE_MAX_ACCURACY_LOSS", MAX_ACCURACY_LOSS)),
            float(env("PROMOTE_MAX_MAE_INCREASE", MAX_MAE_INCREASE)),
            int(env("PROMOTE_MIN_LABELS", MIN_LABELS)),
        )

    def judge(self, version: str, task: str) -> Verdict:
        """The candidate `version`'s shadow record, and whether it may be promoted."""
        rows = self._sum("model_shadow_rows_total", version)
        if rows == 0:
            return Verdict(
                False,
                [f"{version} scored no rows in the shadow over the last {self.window}: run it "
                 "as SHADOW_MODEL_DIR beside the served model first"],
                {"shadow_rows": 0},
            )  # fmt: skip
        agreement = self._sum("model_shadow_rows_total", version, 'agreement="true"') / rows
        evidence: dict[str, Any] = {"shadow_rows": int(rows), "agreement": round(agreement, 4)}
        evidence |= self._estimates(version, task)
        reasons = []
        if agreement < self.min_agreement:
            reasons.append(
                f"it agreed with the served model on {agreement:.1%} of {int(rows)} rows "
                f"(gate {self.min_agreement:.0%})"
            )
        quality = self._quality(version, task, evidence)
        reasons.extend(quality)
        return Verdict(not reasons, reasons, evidence)

    def _estimates(self, version: str, task: str) -> dict[str, float]:
        """What each model's estimate (app/ml/quality/estimation.py) said of its accuracy,
        or a regressor's of its MAE, on the rows of the window, before any label: reported
        beside the agreement, never a reason to refuse (it is an estimate)."""
        metric, counter = (
            ("mae", "model_estimated_absolute_error_total") if task == "regression"
            else ("accuracy", "model_estimated_correct_total")
        )  # fmt: skip
        found = {}
        for role, matchers in (
            ("shadow", (f'model_version="{version}"', 'role="shadow"')),
            ("served", (f'model_version!="{version}"', 'role="primary"')),
        ):
            rows = self._sum("model_estimated_rows_total", "", *matchers)
            if rows:
                found[f"{role}_estimated_{metric}"] = round(
                    self._sum(counter, "", *matchers) / rows, 4
                )
        return found

    def _quality(self, version: str, task: str, evidence: dict[str, Any]) -> list[str]:
        shadow = f'role="shadow", model_version="{version}"'
        served = f'role="primary", model_version!="{version}"'
        if task == "regression":
            metric = "model_feedback_absolute_error"
            labels = self._sum(f"{metric}_count", "", shadow)
            served_labels = self._sum(f"{metric}_count", "", served)
        else:
            metric = "model_feedback_confusion_total"
            labels = self._sum(metric, "", shadow)
            served_labels = self._sum(metric, "", served)
        evidence["shadow_labels"] = int(labels)
        if labels < self.min_labels or served_labels == 0:
            evidence["quality"] = (
                f"not judged: {int(labels)} labelled shadow rows (needs {self.min_labels})"
            )
            return []
        if task == "regression":
            mine = self._sum(f"{metric}_sum", "", shadow) / labels
            theirs = self._sum(f"{metric}_sum", "", served) / served_labels
            evidence |= {"shadow_mae": round(mine, 6), "served_mae": round(theirs, 6)}
            if mine > theirs * (1 + self.max_mae_increase):
                return [
                    f"its live MAE {mine:.4g} is over {self.max_mae_increase:.0%} above the "
                    f"served model's {theirs:.4g} ({int(labels)} labels)"
                ]
            return []
        mine = self._sum(metric, "", shadow, 'correct="true"') / labels
        theirs = self._sum(metric, "", served, 'correct="true"') / served_labels
        evidence |= {"shadow_accuracy": round(mine, 4), "served_accuracy": round(theirs, 4)}
        if mine < theirs - self.max_accuracy_loss:
            return [
                f"its live accuracy {mine:.1%} is more than {self.max_accuracy_loss:.0%} below "
                f"the served model's {theirs:.1%} ({int(labels)} labels)"
            ]
        return []

    def _sum(self, metric: str, version: str, *matchers: str) -> float:
        selector = ", ".join(
            (self.selector, *([f'model_version="{version}"'] if version else []), *matchers)
        )
        expr = f"sum(increase({metric}{{{selector}}}[{self.window}]))"
        query = urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(  # noqa: S310 (the operator's own PROMETHEUS_URL)
                f"{self.prometheus_url}/api/v1/query?{query}", timeout=10
            ) as response:
                body = json.load(response)
        except (OSError, ValueError) as exc:
            raise GateUnavailableError(f"{self.prometheus_url}: {exc}") from exc
        result = body.get("data", {}).get("result", [])
        value = float(result[0]["value"][1]) if result else 0.0
        return 0.0 if math.isnan(value) else value
