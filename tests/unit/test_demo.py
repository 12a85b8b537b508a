"""The Gradio demo: examples, the button's function, clear errors, and a real headless-browser round trip."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytest.importorskip("gradio", reason="gradio is not installed: pip install -e '.[demo]'")

from t5sum.inference import load_summarizer
from t5sum.serving.demo import (
    SAMPLE_VALIDATION,
    build_demo,
    control_defaults,
    example_texts,
    generation_overrides,
    launch,
    summarize_handler,
)
from t5sum.train import train
from tests.conftest import compose_train
from tests.serving_helpers import free_port

SAMPLES = [json.loads(line)["document"] for line in SAMPLE_VALIDATION.open()]
CHROMIUM = os.environ.get("T5SUM_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Spinning intra-op threads make a busy 2-core machine many times slower; one is plenty here."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    cfg = compose_train(
        [
            "experiment=smoke",
            "logger=none",
            "trainer.max_epochs=1",
            "test_after_fit=false",
            "trainer.max_steps=20",
        ],
        tmp_path_factory.mktemp("demo"),
    )
    train(cfg)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="module")
def tiny_summarizer(run: Path):
    return load_summarizer(run)


def test_example_texts_fall_back_to_the_sample_dialogues(tmp_path: Path) -> None:
    assert example_texts(tmp_path, 3) == SAMPLES[:3]
    assert example_texts(tmp_path, 0) == []


def test_example_texts_come_from_the_runs_validation_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"dialogue": ""},
        {"dialogue": "A: first."},
        {"dialogue": "A: second."},
        {"dialogue": "A: third."},
    ]
    (data / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"dataset:\n  name: mine\n  data_dir: {data}\n  data_files: null\n  columns: {{document: dialogue}}\n"
    )
    assert example_texts(run / "model", 2) == ["A: first.", "A: second."]  # empty rows skipped
    (run / "config.yaml").write_text(f"dataset:\n  name: gone\n  data_dir: {tmp_path / 'missing'}\n")
    assert example_texts(run, 1) == SAMPLES[:1]


def test_button_returns_the_summarizers_text_and_a_latency(tiny_summarizer) -> None:
    handler = summarize_handler(tiny_summarizer)
    defaults = control_defaults(tiny_summarizer)
    controls = (24.0, 2.0, 1.5, 2.0)  # sliders may hand over floats
    summary, latency, error = handler(SAMPLES[0], *controls)
    assert summary == tiny_summarizer.summarize([SAMPLES[0]], **generation_overrides(*controls))[0]
    assert re.fullmatch(r"[\d,]+ ms", latency) and error == ""
    # the initial control values reproduce the run's own decoding
    summary, _, _ = handler(SAMPLES[1], *(defaults[name] for name in defaults))
    assert summary == tiny_summarizer.summarize([SAMPLES[1]])[0]


def test_greedy_drops_beam_only_flags_a_beam_config_sets(tiny_summarizer) -> None:
    overrides = generation_overrides(40, 1, 2.0, 0)
    assert overrides["length_penalty"] == 1.0 and overrides["early_stopping"] is False
    tiny_summarizer.summarize([SAMPLES[0]], **overrides)  # accepted by the strict validation


def test_empty_text_shows_the_input_error_instead_of_raising(tiny_summarizer) -> None:
    handler = summarize_handler(tiny_summarizer)
    with pytest.warns(UserWarning, match="nothing to summarize"):  # gr.Warning outside a page event
        summary, latency, error = handler("   ", 40, 1, 1.0, 0)
    assert (summary, latency) == ("", "") and "nothing to summarize" in error


def test_cli_rejects_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "t5sum.demo", f"run_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # hydra writes demo.log into the working directory
    )
    assert result.returncode == 2
    assert "not a t5sum model directory" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not found: set T5SUM_CHROMIUM or `apt-get install chromium`"
)
def test_browser_types_a_dialogue_and_shows_its_summary(tiny_summarizer, tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright missing: pip install -e '.[browser]'"
    )
    text = SAMPLES[2]
    expected = tiny_summarizer.summarize([text])[0]
    assert expected.strip(), "the tiny run must produce a non-empty summary for this check"
    demo = build_demo(tiny_summarizer, SAMPLES[:3])
    port = free_port()
    launch(demo, "127.0.0.1", port, block=False)
    outside: list[str] = []
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "request",
                lambda r: urlparse(r.url).hostname not in (None, "127.0.0.1") and outside.append(r.url),
            )
            # networkidle: Gradio mounts its app and opens its event stream after "load"; a click before
            # that is lost (seen once on a fresh checkout)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=60_000)
            page.locator("#document textarea").wait_for(state="visible", timeout=30_000)
            page.locator("#document textarea").fill(text)
            page.locator("#summarize").click()
            page.wait_for_function(
                "() => document.querySelector('#summary textarea')?.value.trim().length > 0", timeout=60_000
            )
            summary = page.locator("#summary textarea").input_value()
            latency = page.locator("#latency textarea, #latency input").first.input_value()
            error_after_success = page.locator("#error").inner_text()
            page.wait_for_load_state("networkidle")  # the output's fade-in is over before the screenshot
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
            page.locator("#document textarea").fill("  ")
            page.locator("#summarize").click()  # the InputError's sentence on the page, not a traceback
            page.wait_for_function(
                "() => document.querySelector('#error')?.innerText.includes('nothing to summarize')",
                timeout=30_000,
            )
            summary_after_error = page.locator("#summary textarea").input_value()
            browser.close()
    finally:
        demo.close()
    assert summary == expected
    assert re.fullmatch(r"[\d,]+ ms", latency) and error_after_success.strip() == ""
    assert summary_after_error == ""
    assert not outside, f"the page loaded assets from outside the server: {outside}"
    assert (tmp_path / "demo.png").stat().st_size > 10_000
