"""Deployment files: lint the Dockerfile and the workflow offline, and run the image's entrypoint and
health check as the container would (there is no Docker engine here; CI builds and runs the image)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.serving_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
KEY = "deploy-test-key-0123456789"


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.skip(f"{name} is not installed (it comes with the dev extra)")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["hadolint", "Dockerfile"],
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        ["zizmor", "--offline", str(WORKFLOW.parent)],
    ],
)
def test_deploy_files_pass_their_linters(command: list[str]) -> None:
    done = subprocess.run(
        [tool(command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def instruction(name: str) -> list[str]:
    """The exec-form JSON array of a Dockerfile instruction (continuation lines joined)."""
    joined = DOCKERFILE.replace("\\\n", " ")
    match = re.search(rf"^{name}\b.*?(\[.*\])\s*$", joined, flags=re.MULTILINE)
    assert match, f"no exec-form {name} in the Dockerfile"
    return json.loads(match.group(1))


def test_dockerignore_lets_in_everything_the_image_copies() -> None:
    sources = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, flags=re.MULTILINE)
    copied = {item.rstrip("/") for line in sources for item in line.split()}
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied and copied <= allowed, copied - allowed
    assert "USER 10001" in DOCKERFILE and "HEALTHCHECK" in DOCKERFILE


def test_image_entrypoint_serves_and_its_health_check_passes(run_dir: Path) -> None:
    entrypoint = instruction("ENTRYPOINT")
    assert entrypoint[:3] == ["python", "-m", "t5sum.serve"]
    port = free_port()
    args = [a.replace("/model", str(run_dir / "model")) for a in entrypoint[3:]]
    args = [a for a in args if not a.startswith(("serve.host=", "serve.port="))]
    command = [sys.executable, "-m", "t5sum.serve", *args, "serve.host=127.0.0.1", f"serve.port={port}"]
    env = {**os.environ, "T5SUM_API_KEYS": KEY, "T5SUM_THREADS": "1"}
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    health = instruction("HEALTHCHECK")
    health = [sys.executable if part == "python" else part.replace("8000", str(port)) for part in health]
    try:
        deadline = time.time() + 90
        while subprocess.run(health, capture_output=True).returncode != 0:
            assert server.poll() is None, server.stdout.read()
            assert time.time() < deadline, "the health check never passed"
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/score"
        assert requests.post(url, json={"text": "hi there"}, timeout=30).status_code == 401
        ok = requests.post(url, json={"text": "#Person1#: Lunch at 1? #Person2#: Sure."}, timeout=60,
                           headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
        assert ok.status_code == 200 and isinstance(ok.json()["summary"], str)
    finally:
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends
        output = server.communicate(timeout=60)[0]
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the process ends as signalled (docker stop)
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output and "Finished server process" in output
