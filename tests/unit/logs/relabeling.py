"""What Promtail does to a target's labels, in Python, so the shipped configs can be checked
against the fixtures' paths and metadata where no Promtail binary runs (`make test`).

Two pieces, each following its documented semantics and refusing anything it does not
model (an unknown action or stage fails the test rather than being guessed at):
- Prometheus relabeling (`relabel_configs`), which Promtail reuses: `replace`, `keep`, `drop`;
  source labels joined by `separator` (default ";"), `regex` anchored at both ends (default
  "(.*)"), `replacement` (default "$1") expanded with the match's groups; an empty result
  deletes the target label. No maintained Python package implements these, hence this file.
- The stream labels a line ends with: the target's labels that survive relabeling (no "__"
  prefix), `filename` from the file tailer, `stream` from the `cri` stage, the `labels`
  stage's keys, minus what `labeldrop` lists; `match` applies its stages when its selector's
  equality matchers hold.
"""

import re
from typing import Any

DEFAULTS = {"separator": ";", "regex": "(.*)", "replacement": "$1", "action": "replace"}
# Stages that change no stream label (they extract, stamp or attach structured metadata).
LABEL_NEUTRAL_STAGES = {"json", "timestamp", "structured_metadata"}


def _expand(replacement: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand for `$1`, `${1}` and `$name`, as Prometheus uses it."""

    def group(token: re.Match[str]) -> str:
        name = token.group(1) or token.group(2)
        value = match.group(int(name) if name.isdigit() else name)
        return value or ""

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", group, replacement)


def relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """The labels after `rules`, or None when a rule drops the target."""
    labels = dict(labels)
    for rule in rules:
        rule = {**DEFAULTS, **rule}
        value = rule["separator"].join(labels.get(name, "") for name in rule["source_labels"])
        match = re.fullmatch(rule["regex"], value)
        action = rule["action"]
        if action == "drop" and match:
            return None
        if action == "keep" and not match:
            return None
        if action == "replace":
            if match:
                result = _expand(rule["replacement"], match)
                if result:
                    labels[rule["target_label"]] = result
                else:
                    labels.pop(rule["target_label"], None)
        elif action not in {"keep", "drop"}:
            raise AssertionError(f"relabel action {action!r} is not modelled here")
    return labels


def _selector_holds(selector: str, labels: dict[str, str]) -> bool:
    matchers = re.findall(r'(\w+)\s*=\s*"([^"]*)"', selector)
    if not matchers or re.search(r"!=|=~|!~", selector):
        raise AssertionError(f"selector {selector!r} is not modelled here")
    return all(labels.get(name) == value for name, value in matchers)


def _apply(stages: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str]:
    for stage in stages:
        ((name, body),) = stage.items()
        if name == "cri":
            labels["stream"] = "stdout"
        elif name == "match":
            if _selector_holds(body["selector"], labels):
                labels = _apply(body["stages"], labels)
        elif name == "labels":
            labels.update(dict.fromkeys(body, "extracted"))
        elif name == "labeldrop":
            labels = {key: value for key, value in labels.items() if key not in body}
        elif name not in LABEL_NEUTRAL_STAGES:
            raise AssertionError(f"pipeline stage {name!r} is not modelled here")
    return labels


def stream_labels(job: dict[str, Any], meta: dict[str, str], path: str) -> set[str]:
    """The label names a line tailed from `path` carries into Loki, for a target of `job`
    discovered with `meta`."""
    target = relabel(job["relabel_configs"], meta)
    assert target is not None, f"the relabeling drops the target {meta}"
    labels = {key: value for key, value in target.items() if not key.startswith("__")}
    labels["filename"] = path  # the file tailer's own label
    return set(_apply(job["pipeline_stages"], labels))
