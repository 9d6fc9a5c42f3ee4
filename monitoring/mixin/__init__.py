"""Glassbox's monitoring mixin: alerts, recording rules and dashboards as one unit.

`python -m monitoring.mixin` (or `make monitoring`) regenerates
monitoring/prometheus/rules/*.yaml and dashboards/*.json from config.py; a test
fails when the committed files differ from what the generator produces.
"""
