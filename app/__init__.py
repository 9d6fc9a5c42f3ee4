"""Glassbox: an observability-first inference service for scikit-learn models."""
