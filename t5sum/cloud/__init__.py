"""Azure ML (azure-ai-ml SDK v2): jobs, sweeps, the model registry and managed online endpoints.

Every module imports azure-ai-ml inside its functions (it takes over a second to import), so `--help` and
training never pay for it. `t5sum.azure` is the CLI; `callbacks=azure_register` imports `registry` lazily.
"""
