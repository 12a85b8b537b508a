"""t5sum/serving/score.py under the real Azure ML inference HTTP server (`azmlinfsrv`), end to end.

Run it with `nox -s azureml` (its own venv: the project's core deps plus azureml-inference-server-http).
Trains the offline smoke model (~0.2M parameters, seconds), lays it out as Azure ML mounts a registered model
(AZUREML_MODEL_DIR=<tmp>/azureml-models/t5sum/1 holding `model/`), starts `azmlinfsrv --entry_script score.py`
on a free local port, waits for its liveness route (GET /), then POSTs good and bad bodies to /score and
checks each status and body. Prints a table; exit 0 when every case passes, 1 otherwise, 2 on setup failure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENTRY_SCRIPT = ROOT / "t5sum" / "serving" / "score.py"
HOST = "127.0.0.1"
DIALOGUE = "#Person1#: Shall we meet at 3 pm? #Person2#: Yes, at the cafe."


class SetupError(Exception):
    """The smoke could not get as far as sending requests (training, layout or server start failed)."""


@dataclass
class Case:
    name: str
    body: bytes
    expected: int
    check: Callable[[Any], str | None]  # the parsed JSON body -> None when fine, else what is wrong


@dataclass
class Result:
    case: Case
    status: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.status == self.case.expected and self.problem is None


def _object(body: Any) -> str | None:
    return None if isinstance(body, dict) else f"body is {type(body).__name__}, not a JSON object"


def _summary(body: Any) -> str | None:
    if (problem := _object(body)) is not None:
        return problem
    return None if isinstance(body.get("summary"), str) else f'no string "summary" in {body}'


def _summaries(body: Any) -> str | None:
    if (problem := _object(body)) is not None:
        return problem
    items = body.get("summaries")
    if isinstance(items, list) and len(items) == 2 and all(isinstance(s, str) for s in items):
        return None
    return f'"summaries" is not a list of 2 strings: {body}'


def _detail(word: str | None = None) -> Callable[[Any], str | None]:
    def check(body: Any) -> str | None:
        if (problem := _object(body)) is not None:
            return problem
        detail = body.get("detail")
        if not isinstance(detail, str):
            return f'no string "detail" in {body}'
        if word is not None and word not in detail:
            return f'"detail" lacks {word!r}: {detail!r}'
        return None

    return check


def cases() -> list[Case]:
    def js(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    return [
        Case("a. text", js({"text": DIALOGUE}), 200, _summary),
        Case("b. texts", js({"texts": ["a b c", "d e f"]}), 200, _summaries),
        Case("c. empty text", js({"text": ""}), 422, _detail("empty")),
        Case("d. unknown parameter", js({"text": "x", "parameters": {"temperature": 1}}), 422, _detail()),
        Case("e. non-UTF-8 body", b'{"text": "\xff"}', 400, _detail()),
        Case("f. malformed JSON", b'{"text": "unterminated', 422, _detail()),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 60.0
) -> tuple[int, bytes, list[str]]:
    """(status, body, every Content-Type header value) of one request to the local server."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.headers.get_all("Content-Type") or []
    finally:
        conn.close()


def tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def train(work: Path, env: dict[str, str]) -> Path:
    """The smoke experiment, 20 steps: returns the saved model folder (<work>/run/model)."""
    run_dir = work / "run"
    log = work / "train.log"
    cmd = [
        sys.executable,
        "-m",
        "t5sum.train",
        "experiment=smoke",
        "logger=none",
        "trainer.max_steps=20",
        "test_after_fit=false",
        f"hydra.run.dir={run_dir}",
    ]
    with log.open("wb") as out:
        done = subprocess.run(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    model = run_dir / "model"
    if done.returncode != 0 or not (model / "t5sum.json").is_file():
        raise SetupError(f"training failed (exit {done.returncode}); last lines of {log}:\n{tail(log)}")
    return model


def register(model: Path, work: Path) -> Path:
    """Azure ML mounts a registered model at .../azureml-models/<name>/<version>/<the uploaded folder>."""
    version_dir = work / "azureml-models" / "t5sum" / "1"
    shutil.copytree(model, version_dir / "model")
    return version_dir


def start_server(
    port: int, model_dir: Path, work: Path, env: dict[str, str], entry_script: Path
) -> tuple[subprocess.Popen, Path]:
    exe = shutil.which("azmlinfsrv") or str(Path(sys.executable).with_name("azmlinfsrv"))
    log = work / "azmlinfsrv.log"
    server_env = {**env, "AZUREML_MODEL_DIR": str(model_dir)}  # what Azure ML sets; --model_dir sets it too
    cmd = [exe, "--entry_script", str(entry_script.resolve()), "--port", str(port)]
    out = log.open("wb")
    try:
        proc = subprocess.Popen(cmd, cwd=work, env=server_env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()  # the child holds its own descriptor
    return proc, log


def wait_live(proc: subprocess.Popen, port: int, timeout_s: float) -> float:
    """Poll GET / (azmlinfsrv's liveness route, "Healthy") until 200; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if proc.poll() is not None:
            raise SetupError(f"azmlinfsrv exited with {proc.returncode} before it was live")
        try:
            status, _, _ = request(port, "GET", "/", timeout=5)
            if status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.5)
    raise SetupError(f"azmlinfsrv not live on port {port} after {timeout_s:.0f} s")


def run_case(port: int, case: Case) -> Result:
    try:
        status, raw, content_types = request(port, "POST", "/score", case.body)
    except OSError as err:
        return Result(case, None, f"request failed: {err}")
    problems = []
    if len(content_types) != 1 or not content_types[0].startswith("application/json"):
        problems.append(f"Content-Type headers {content_types}, want one application/json")
    try:
        problem = case.check(json.loads(raw))
    except ValueError:
        problem = f"body is not JSON: {raw[:200]!r}"
    if problem is not None:
        problems.append(problem)
    return Result(case, status, "; ".join(problems) or None)


def print_table(results: list[Result]) -> None:
    width = max(len(r.case.name) for r in results)
    print(f"{'case':<{width}}  expected  got   ok")
    for r in results:
        got = "-" if r.status is None else str(r.status)
        print(f"{r.case.name:<{width}}  {r.case.expected:<8}  {got:<4}  {'yes' if r.ok else 'NO'}")
        if r.problem:
            print(f"{'':<{width}}  -> {r.problem}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # gunicorn's master stops its workers on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the server (90)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (model, logs)")
    parser.add_argument(
        "--entry-script", type=Path, default=ENTRY_SCRIPT, help="scoring script (t5sum/serving/score.py)"
    )
    args = parser.parse_args(argv)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    work = Path(tempfile.mkdtemp(prefix="t5sum-azureml-"))
    proc: subprocess.Popen | None = None
    log: Path | None = None
    results: list[Result] = []
    t0 = time.monotonic()
    try:
        model = train(work, env)
        print(f"trained smoke model in {time.monotonic() - t0:.1f} s: {model}")
        model_dir = register(model, work)
        port = free_port()
        proc, log = start_server(port, model_dir, work, env, args.entry_script)
        live = wait_live(proc, port, args.timeout)
        print(f"azmlinfsrv live on {HOST}:{port} after {live:.1f} s (AZUREML_MODEL_DIR={model_dir})")
        results = [run_case(port, case) for case in cases()]
        print_table(results)
    except SetupError as err:
        print(f"azureml smoke: {err}", file=sys.stderr)
    finally:
        if proc is not None:
            stop(proc)
        failed = not results or not all(r.ok for r in results)
        if failed and log is not None:
            print(f"--- last lines of {log} ---\n{tail(log)}", file=sys.stderr)
        if args.keep or failed:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"total {time.monotonic() - t0:.1f} s")
    if not results:
        return 2
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
