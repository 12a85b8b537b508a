"""Azure ML scoring script: `init()` loads the model from AZUREML_MODEL_DIR, `run(request)` answers /score.

The same contract, Summarizer and limits as the FastAPI app (`t5sum.serving.contract`). `@rawhttp` hands
`run` the raw request, so bad input can get its 4xx (without it, every exception becomes a 500). The managed
endpoint checks the key itself. Runs without azure-ai-ml; azureml-inference-server-http provides `rawhttp`
and `AMLResponse` in the deployment image, and the stand-ins below keep `init`/`run` testable without it.

Environment: AZUREML_MODEL_DIR (set by Azure ML), T5SUM_MODEL_SUBDIR (optional: the folder inside it,
e.g. "model" or "onnx"), T5SUM_BACKEND (auto | torch | onnx), T5SUM_THREADS, T5SUM_LIMITS (JSON overrides
of serve.limits, e.g. '{"max_text_chars": 20000}').
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from t5sum.inference import load_summarizer
from t5sum.inference.base import BatchedSummarizer, InputError
from t5sum.serving.contract import (
    Limits,
    RequestError,
    check_documents,
    clamped_parameters,
    parse_body,
    response_body,
)

try:  # present inside Azure ML inference images (azureml-inference-server-http)
    from azureml.contrib.services.aml_request import rawhttp
    from azureml.contrib.services.aml_response import AMLResponse
except ImportError:  # local use and tests

    def rawhttp(func):  # type: ignore[no-redef]
        return func

    class AMLResponse:  # type: ignore[no-redef]
        def __init__(
            self, message: Any, status_code: int, response_headers: dict | None = None, json_str: bool = False
        ):
            self.message, self.status_code = message, status_code
            self.headers = dict(response_headers or {})
            self.json_str = json_str


log = logging.getLogger("t5sum.score")
_state: dict[str, Any] = {}


def find_model_dir(root: str | Path, subdir: str | None = None) -> Path:
    """AZUREML_MODEL_DIR holds the registered folder (often one level down): find the t5sum model in it."""
    root = Path(root)
    if subdir:
        return root / subdir
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    for path in candidates:
        if (path / "t5sum.json").is_file():
            return path
    raise FileNotFoundError(f"no t5sum model (a folder with t5sum.json) under {root}")


def init() -> None:
    model_dir = find_model_dir(os.environ["AZUREML_MODEL_DIR"], os.environ.get("T5SUM_MODEL_SUBDIR"))
    backend = os.environ.get("T5SUM_BACKEND", "auto")
    threads = int(os.environ.get("T5SUM_THREADS", "0")) or None
    summarizer: BatchedSummarizer = load_summarizer(model_dir, backend=backend, threads=threads)
    _state["summarizer"] = summarizer
    _state["limits"] = Limits(**json.loads(os.environ.get("T5SUM_LIMITS", "{}")))
    log.info("t5sum model loaded from %s (%s)", model_dir, type(summarizer).__name__)


def _json(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> AMLResponse:
    # A str body as-is: azmlinfsrv's AMLResponse json.dumps() the message again when json_str=True, and
    # adds a second Content-Type; without it, ours is the only one (checked under azmlinfsrv: nox -s azureml).
    return AMLResponse(json.dumps(payload), status, {"Content-Type": "application/json", **(headers or {})})


@rawhttp
def run(request: Any) -> AMLResponse:
    """`request`: the server's AMLRequest (a Flask request), or a str/bytes body when called directly."""
    if isinstance(request, str | bytes):
        body = request
    else:
        if request.method != "POST":
            return _json({"detail": "use POST with a JSON body"}, 405)
        body = request.get_data(cache=False)
    summarizer: BatchedSummarizer = _state["summarizer"]
    limits: Limits = _state["limits"]
    try:
        parsed = parse_body(body, limits)
        check_documents(parsed.documents, limits)
        overrides = clamped_parameters(parsed, limits, summarizer.generation_config.max_new_tokens)
        summaries = summarizer.summarize(parsed.documents, **overrides)
    except RequestError as err:
        return _json({"detail": err.detail}, err.status, err.headers)
    except InputError as err:
        return _json({"detail": str(err)}, 422)
    return _json(response_body(parsed, summaries), 200)
