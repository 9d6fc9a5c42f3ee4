"""Write the doc tables that restate code, from the code: `python -m docgen [--check]`.

Settings (app/core/config.py), metrics (app/observability/metrics.py) and alerts (the
monitoring mixin's Prometheus and Loki rules) are rendered into the regions of docs/*.md
marked `<!-- BEGIN GENERATED: name -->` … `<!-- END GENERATED: name -->`; everything
around them stays hand-written. `--check` fails when a committed page differs from what
this would write (a test runs it), so a renamed setting or a new alert cannot leave the
docs behind.
"""

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


TABLES: dict[str, tuple[Path, Callable[[], str]]] = {
    "settings": (ROOT / "docs" / "service.md", settings_table),
    "metrics": (ROOT / "docs" / "service.md", metrics_table),
    "alerts": (ROOT / "docs" / "monitoring.md", alerts_table),
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
