"""Azure ML score.py: init() from AZUREML_MODEL_DIR, run() with the API's contract, limits and 4xx answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from t5sum.serving import score
from tests.serving_helpers import AUTH, BAD, DIALOGUES, make_app

LIMITS = {"max_body_bytes": 20_000, "max_text_chars": 5_000, "max_batch_texts": 8}


@pytest.fixture(scope="module")
def scored(run_dir: Path, tmp_path_factory) -> None:
    registered = tmp_path_factory.mktemp("azureml") / "t5sum-dialogsum" / "1"
    shutil.copytree(run_dir / "model", registered / "model")  # the registry nests the folder
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZUREML_MODEL_DIR", str(registered.parent.parent))
        mp.setenv("T5SUM_LIMITS", json.dumps(LIMITS))
        score.init()


def test_run_answers_text_and_texts_like_the_summarizer(scored, summarizer) -> None:
    one = score.run(json.dumps({"text": DIALOGUES[0]}))
    assert one.status_code == 200 and json.loads(one.message) == {
        "summary": summarizer.summarize([DIALOGUES[0]])[0]
    }
    many = score.run(json.dumps({"texts": DIALOGUES[:3], "parameters": {"num_beams": 2}}).encode())
    assert json.loads(many.message) == {"summaries": summarizer.summarize(DIALOGUES[:3], num_beams=2)}


@pytest.mark.parametrize(("body", "status", "message"), BAD)
def test_bad_input_gets_the_same_answer_as_the_api(scored, summarizer, body, status, message) -> None:
    response = score.run(json.dumps(body))
    assert response.status_code == status and message in json.loads(response.message)["detail"]
    app, _ = make_app(summarizer)
    with TestClient(app) as client:
        api = client.post("/score", json=body, headers=AUTH)
    assert (api.status_code, api.json()["detail"]) == (
        response.status_code,
        json.loads(response.message)["detail"],
    )


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [(b'{"text": "\xff\xfe"}', 400, "not UTF-8"), ('{"text": "unterminated', 422, "JSON decode error")],
)
def test_undecodable_bodies_are_4xx(scored, raw, status: int, message: str) -> None:
    response = score.run(raw)
    assert response.status_code == status and message in json.loads(response.message)["detail"]


def test_a_flask_style_request_and_wrong_method(scored) -> None:
    class Request:
        def __init__(self, method: str, body: bytes) -> None:
            self.method, self.body = method, body

        def get_data(self, cache: bool = True) -> bytes:
            return self.body

    ok = score.run(Request("POST", json.dumps({"text": DIALOGUES[1]}).encode()))
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/json"
    assert score.run(Request("GET", b"")).status_code == 405


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"t5sum\.json"):
        score.find_model_dir(tmp_path)
