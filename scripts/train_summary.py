"""Markdown job summary of a training run, for $GITHUB_STEP_SUMMARY.

    python scripts/train_summary.py --log train.log [--metadata M] [--baseline B]

Shows accuracy, macro F1, per-class scores and the confusion matrix; with --baseline
(the base branch's model) each metric gets its change, and a drop is flagged.
Without --metadata (the quality gate failed) it reports the gate from the JSON log.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    events = []
    for line in log.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def _delta(current: float, baseline: dict[str, Any] | None, key: str) -> str:
    if baseline is None:
        return ""
    change = current - float(baseline["metrics"][key])
    marker = " ⚠️ lower than the base branch" if change < -1e-9 else ""
    return f" ({change:+.4f}{marker})"


def render(log: Path, metadata: dict[str, Any] | None, baseline: dict[str, Any] | None) -> str:
    lines = ["## Model training", ""]
    if metadata is None:
        gate = [e for e in _events(log) if e.get("event") == "quality_gate_failed"]
        if gate:
            metric = gate[0].get("metric", "accuracy")
            lines += [
                f"❌ **Quality gate failed**: {metric} {gate[0][metric]:.4f} "
                f"< {gate[0][f'min_{metric}']}. No artifact was published.",
            ]
        else:
            lines += ["❌ Training failed before evaluation; see the step log."]
        return "\n".join(lines) + "\n"

    metrics = metadata["metrics"]
    gate = metadata["quality_gate"]
    metric = gate.get("metric", "accuracy")
    shown = ("accuracy", "f1_macro") if "accuracy" in metrics else ("r2", "rmse", "mae")
    names = {
        "accuracy": "accuracy",
        "f1_macro": "macro F1",
        "r2": "R²",
        "rmse": "RMSE",
        "mae": "MAE",
    }
    lines += [
        f"✅ `{metadata['model_name']}` version `{metadata['model_version']}` "
        f"(scikit-learn {metadata['versions']['sklearn']}, "
        f"data sha256 `{metadata['training_data']['sha256'][:12]}`)",
        "",
        "| metric | value |",
        "|---|---|",
        *(
            f"| {names[key]} | {metrics[key]:.4f}{_delta(metrics[key], baseline, key)} |"
            for key in shown
        ),
        f"| quality gate | {names[metric]} ≥ {gate[f'min_{metric}']} |",
    ]
    if "per_class" in metrics:  # a classifier: its classes
        lines += _classes(metadata)
    if baseline is not None:
        lines += ["", f"Base branch model: `{baseline['model_version']}`."]
    return "\n".join(lines) + "\n"


def _classes(metadata: dict[str, Any]) -> list[str]:
    """Per-class scores and the confusion matrix, as Markdown tables."""
    metrics = metadata["metrics"]
    lines = ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, scores in metrics["per_class"].items():
        lines.append(
            f"| {name} | {scores['precision']:.3f} | {scores['recall']:.3f} | "
            f"{scores['f1-score']:.3f} | {scores['support']:.0f} |"
        )
    classes = metadata["class_names"]
    lines += ["", "Confusion matrix (rows: true, columns: predicted)", ""]
    lines.append("| | " + " | ".join(classes) + " |")
    lines.append("|---" * (len(classes) + 1) + "|")
    for name, row in zip(classes, metrics["confusion_matrix"], strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--metadata", type=Path)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    metadata = json.loads(args.metadata.read_text()) if args.metadata else None
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    sys.stdout.write(render(args.log, metadata, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
