#!/usr/bin/env bash
# Create .venv with the project's pinned dependencies. Idempotent: a second run only checks.
# torch is installed first and pinned in every pip call, so pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# reinstall when the pins changed since the last install (a pulled commit may add a dependency)
PINS=$(cat pyproject.toml constraints-torch.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.t5sum-pins 2>/dev/null)" != "$PINS" ] \
    || ! .venv/bin/python -c "import t5sum, torch, transformers, lightning" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet torch==2.13.0
  .venv/bin/python -m pip install --quiet -c constraints-torch.txt -e ".[dev]"
  echo "$PINS" > .venv/.t5sum-pins
fi
echo "t5sum environment ready: .venv ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
