"""MODEL_URI's grammar: which registered model version to serve (app/ml/serving/mlflow_source.py).

Here, below everything, so Settings can refuse a malformed URI at startup.
"""

import re
from dataclasses import dataclass

_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+|latest))")


@dataclass(frozen=True)
class ModelUri:
    name: str
    alias: str | None = None
    version: str | None = None  # a number, or "latest"

    def __str__(self) -> str:
        return (
            f"models:/{self.name}@{self.alias}"
            if self.alias
            else f"models:/{self.name}/{self.version}"
        )


def parse_model_uri(text: str) -> ModelUri:
    """models:/name@alias, models:/name/3 or models:/name/latest; ValueError otherwise."""
    match = _URI.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"MODEL_URI {text!r} is not models:/<name>@<alias>, models:/<name>/<version> "
            "or models:/<name>/latest"
        )
    return ModelUri(match["name"], match["alias"], match["version"])
