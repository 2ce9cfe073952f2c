"""Datasets, networks, evaluation and export for the spine structure models."""
