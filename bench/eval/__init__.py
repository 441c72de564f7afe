"""Evaluation: feature extractors, torch-fidelity metrics, and the per-cell evaluation."""
