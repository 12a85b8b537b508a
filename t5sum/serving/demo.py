"""The Gradio demo: a document in, its summary and the latency out, with the run's decoding as defaults.

Gradio is imported inside functions (it takes seconds), so `import t5sum.serving` stays light.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from t5sum.errors import T5SumError
from t5sum.inference.base import SETTINGS_FILE, BatchedSummarizer, InputError

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger("t5sum.demo")

SAMPLE_VALIDATION = Path(__file__).resolve().parents[1] / "resources" / "sample" / "validation.jsonl"
# the generation controls the page shows, in the order the button passes them
CONTROLS = ("max_new_tokens", "num_beams", "length_penalty", "no_repeat_ngram_size")


def import_gradio():
    """Gradio with its analytics off; the hub stays offline unless the user asked otherwise."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read when gradio is imported
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gradio

    return gradio


def sample_documents(n: int) -> list[str]:
    """The first `n` of the package's synthetic dialogues."""
    with SAMPLE_VALIDATION.open() as handle:
        return [json.loads(line)["document"] for line, _ in zip(handle, range(n), strict=False)]


def run_config(path: Path) -> DictConfig | None:
    """The resolved config.yaml of the run behind `path`: a run dir, its model/ or onnx/ folder, or a model
    dir whose t5sum.json names its source run."""
    candidates = [path, path.parent]
    if (path / SETTINGS_FILE).is_file():
        source = json.loads((path / SETTINGS_FILE).read_text()).get("source_run")
        candidates += [Path(source)] if source else []
    for candidate in candidates:
        if (candidate / "config.yaml").is_file():
            cfg = OmegaConf.load(candidate / "config.yaml")
            if isinstance(cfg, DictConfig) and "dataset" in cfg:
                return cfg
    return None


def validation_documents(path: Path, n: int) -> list[str]:
    """Up to `n` documents from the run's validation file, or [] when it is not on this machine."""
    cfg = run_config(path)
    if cfg is None:
        return []
    dataset = cfg.dataset
    from t5sum.data.sources import find_split_file, load_local_file

    try:
        files = dataset.get("data_files") or {}
        if files.get("validation"):
            rows = load_local_file(files["validation"])
        elif dataset.get("data_dir"):
            rows = load_local_file(find_split_file(dataset.data_dir, "validation"))
        else:
            return []  # a hub dataset: examples would need the network
    except T5SumError as err:
        log.info("No examples from the run's dataset (%s); showing the sample dialogues.", err)
        return []
    column = (dataset.get("columns") or {}).get("document", "document")
    if column not in rows.column_names:
        column = "document" if "document" in rows.column_names else None
    if column is None:
        return []
    head = rows.select(range(min(len(rows), 4 * n)))[column]
    return [text for text in head if isinstance(text, str) and text.strip()][:n]


def example_texts(path: str | Path, n: int = 3) -> list[str]:
    """Up to `n` documents from the validation split of the run behind `path` when that file is on this
    machine, else the package's sample dialogues."""
    if n <= 0:
        return []
    return validation_documents(Path(path), n) or sample_documents(n)


def control_defaults(summarizer: BatchedSummarizer) -> dict[str, Any]:
    """Initial control values: the run's own generation config (what the API and evaluation use)."""
    config = summarizer.generation_config
    return {
        "max_new_tokens": int(config.max_new_tokens or 128),
        "num_beams": int(config.num_beams or 1),
        "length_penalty": float(config.length_penalty if config.length_penalty is not None else 1.0),
        "no_repeat_ngram_size": int(config.no_repeat_ngram_size or 0),
    }


def generation_overrides(
    max_new_tokens: float, num_beams: float, length_penalty: float, no_repeat_ngram_size: float
) -> dict[str, Any]:
    """Slider values -> Summarizer overrides (sliders may hand over floats)."""
    overrides: dict[str, Any] = {
        "max_new_tokens": int(max_new_tokens),
        "num_beams": int(num_beams),
        "length_penalty": float(length_penalty),
        "no_repeat_ngram_size": int(no_repeat_ngram_size),
    }
    if overrides["num_beams"] == 1:
        # greedy decoding: transformers rejects beam-only flags that a beam-search run config sets
        overrides.update(length_penalty=1.0, early_stopping=False)
    return overrides


def format_latency(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def summarize_handler(summarizer: BatchedSummarizer) -> Callable[..., tuple[str, str, str]]:
    """What the Summarize button calls: (text, *CONTROLS) -> (summary, latency, error message)."""

    def summarize(text: str | None, *controls: float) -> tuple[str, str, str]:
        start = time.perf_counter()
        try:
            summary = summarizer.summarize([text or ""], **generation_overrides(*controls))[0]
        except InputError as err:
            import_gradio().Warning(str(err))
            return "", "", str(err)
        return summary, format_latency(time.perf_counter() - start), ""

    return summarize


def build_demo(summarizer: BatchedSummarizer, examples: list[str], description: str = "") -> gr.Blocks:
    """The page; elem_ids document / summarize / summary / latency / error are stable for browser tests."""
    gr = import_gradio()
    defaults = control_defaults(summarizer)
    with gr.Blocks(title="t5sum demo", analytics_enabled=False) as demo:
        gr.Markdown("## t5sum summarizer" + (f"\n{description}" if description else ""))
        with gr.Row():
            with gr.Column(scale=3):
                document = gr.Textbox(
                    label="Document",
                    lines=12,
                    placeholder="Paste a document or a dialogue.",
                    elem_id="document",
                )
                if examples:
                    gr.Examples(examples=[[text] for text in examples], inputs=[document], label="Examples")
            with gr.Column(scale=2):
                controls = [
                    gr.Slider(
                        1,
                        max(512, defaults["max_new_tokens"]),
                        value=defaults["max_new_tokens"],
                        step=1,
                        label="max_new_tokens",
                        elem_id="max_new_tokens",
                    ),
                    gr.Slider(
                        1,
                        max(8, defaults["num_beams"]),
                        value=defaults["num_beams"],
                        step=1,
                        label="num_beams",
                        info="1 = greedy decoding",
                        elem_id="num_beams",
                    ),
                    gr.Slider(
                        min(0.0, defaults["length_penalty"]),
                        max(3.0, defaults["length_penalty"]),
                        value=defaults["length_penalty"],
                        step=0.1,
                        label="length_penalty",
                        info="beam search only; > 1 favours longer summaries",
                        elem_id="length_penalty",
                    ),
                    gr.Slider(
                        0,
                        max(6, defaults["no_repeat_ngram_size"]),
                        value=defaults["no_repeat_ngram_size"],
                        step=1,
                        label="no_repeat_ngram_size",
                        info="0 = off",
                        elem_id="no_repeat_ngram_size",
                    ),
                ]
                button = gr.Button("Summarize", variant="primary", elem_id="summarize")
                summary = gr.Textbox(label="Summary", lines=5, interactive=False, elem_id="summary")
                latency = gr.Textbox(label="Latency", max_lines=1, interactive=False, elem_id="latency")
                error = gr.Markdown(elem_id="error")
        button.click(
            summarize_handler(summarizer),
            inputs=[document, *controls],
            outputs=[summary, latency, error],
            api_name="summarize",
        )
    return demo


def launch(
    demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False, block: bool = True
):
    """Serve the page; `block=False` returns once it is up (tests)."""
    return demo.launch(
        server_name=host, server_port=port, share=share, prevent_thread_lock=not block, quiet=not block
    )
