"""Hyperparameter sweeps: search spaces, the resumable Optuna study, and the multirun summary."""
