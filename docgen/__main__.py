"""Write the doc tables that restate code, from the code: `python -m docgen [--check]`.

Settings (app/core/config.py), metrics (app/observability/metrics.py), alerts (the
monitoring mixin's Prometheus and Loki rules) and the chart's values (the `# --` comments of
helm/glassbox/values.yaml, helm-docs' convention) are rendered into the regions
marked `<!-- BEGIN GENERATED: name -->` … `<!-- END GENERATED: name -->`; everything
around them stays hand-written. `--check` fails when a committed page differs from what
this would write (a test runs it), so a renamed setting or a new alert cannot leave the
docs behind.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value in ("", None):
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    limits = {type(m).__name__: m for m in field.metadata}
    low, high = limits.get("Ge"), limits.get("Le")
    if low is not None and high is not None:
        return f" ({low.ge} to {high.le})"
    return ""


def settings_table() -> str:
    from app.core.config import Settings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(
            f"| `{name}` | {_default(field)} | {_cell(field.description or '')}{_bounds(field)} |"
        )
    return "\n".join(rows)


def metrics_table() -> str:
    from app.observability import metrics

    rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        (family,) = list(value.describe())
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = ", ".join(f"`{label}`" for label in value._labelnames) or "—"
        rows.append(f"| `{name}` | {family.type} | {labels} | {_cell(family.documentation)} |")
    return "\n".join(rows)


def alerts_table() -> str:
    from monitoring.mixin.log_rules import log_alert_groups
    from monitoring.mixin.rules import alert_groups

    rows = ["| alert | severity | evaluated by | for | summary |", "|---|---|---|---|---|"]
    sources: list[tuple[str, dict[str, Any]]] = [
        ("Prometheus", alert_groups()),
        ("Loki ruler", log_alert_groups()),
    ]
    for source, document in sources:
        for group in document["groups"]:
            for rule in group["rules"]:
                rows.append(
                    f"| {rule['alert']} | {rule['labels']['severity']} | {source} "
                    f"| {rule['for']} | {_cell(rule['annotations']['summary'])} |"
                )
    return "\n".join(rows)


CHART_VALUES = ROOT / "helm" / "glassbox" / "values.yaml"
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_]+):")


def _commented_paths(lines: list[str]) -> dict[str, str]:
    """Dotted path -> the `# --` comment block just above that key (helm-docs' convention)."""
    found: dict[str, str] = {}
    stack: list[str] = []
    comment: list[str] | None = None
    for line in lines:
        text = line.strip()
        if text.startswith("# --"):
            comment = [text[4:].strip()]
        elif text.startswith("#") and comment is not None:
            comment.append(text[1:].strip())
        elif (match := _KEY.match(line)) is not None:
            stack = [*stack[: len(match.group(1)) // 2], match.group(2)]
            if comment is not None:
                found[".".join(stack)] = " ".join(comment)
            comment = None
        else:  # a blank line or anything else ends the block: only a comment right above counts
            comment = None
    return found


def _at(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree


def _chart_default(value: Any) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(", ", ": "))
        return f"`{text}`" if len(text) <= 48 else "see values.yaml"
    return f"`{json.dumps(value) if value in ('', None) or isinstance(value, bool) else value}`"


# Kept as one row each: their children are Kubernetes fields, documented upstream.
WHOLE_VALUES = {"podSecurityContext", "securityContext", "resources"}


def _chart_paths(values: dict[str, Any], commented: dict[str, str]) -> list[str]:
    """Each top-level key, each second-level key under a mapping, and any deeper key that
    carries its own comment: the rows of the values table, in values.yaml's order."""
    paths: list[str] = []
    for key, value in values.items():
        if not isinstance(value, dict) or key in WHOLE_VALUES or key in commented:
            paths.append(key)
        if isinstance(value, dict) and key not in WHOLE_VALUES:
            for child in value:
                paths.append(f"{key}.{child}")
                paths += [p for p in commented if p.startswith(f"{key}.{child}.")]
    return paths


def chart_values_table() -> str:
    values = yaml.safe_load(CHART_VALUES.read_text())
    commented = _commented_paths(CHART_VALUES.read_text().splitlines())
    undocumented = [
        key for key in values if not any(p == key or p.startswith(f"{key}.") for p in commented)
    ]
    if undocumented:
        raise SystemExit(f"values.yaml keys without a `# --` comment: {undocumented}")
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for path in _chart_paths(values, commented):
        default = _cell(_chart_default(_at(values, path)))
        rows.append(f"| `{path}` | {default} | {_cell(commented.get(path, ''))} |")
    return "\n".join(rows)


TABLES: dict[str, tuple[Path, Callable[[], str]]] = {
    "settings": (ROOT / "docs" / "service.md", settings_table),
    "metrics": (ROOT / "docs" / "service.md", metrics_table),
    "alerts": (ROOT / "docs" / "monitoring.md", alerts_table),
    "chart-values": (ROOT / "helm" / "glassbox" / "README.md", chart_values_table),
}


def render(text: str, name: str, table: str) -> str:
    pattern = re.compile(
        rf"(<!-- BEGIN GENERATED: {name} .*?-->\n).*?(<!-- END GENERATED: {name} -->)", re.DOTALL
    )
    if not pattern.search(text):
        raise SystemExit(f"no GENERATED region named {name!r}")
    return pattern.sub(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", text)


def outputs() -> dict[Path, str]:
    pages: dict[Path, str] = {}
    for name, (path, build) in TABLES.items():
        pages[path] = render(pages.get(path) or path.read_text(), name, build())
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a page is out of date")
    args = parser.parse_args()
    stale = [path for path, text in outputs().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run `make docs`)")
        return 1 if stale else 0
    for path, text in outputs().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
