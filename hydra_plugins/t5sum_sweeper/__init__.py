"""Hydra discovers this package (the `hydra_plugins` namespace) and registers `hydra/sweeper=t5sum_optuna`."""
