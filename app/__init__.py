"""Glassbox: an observability-first inference service for scikit-learn models."""

__version__ = "0.1.0"
