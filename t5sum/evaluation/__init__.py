"""Evaluation: score any model on any dataset split, compare it with a baseline, and write a report."""
