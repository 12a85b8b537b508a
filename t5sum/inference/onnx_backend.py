"""The onnxruntime backend: an exported directory (encoder, decoder, decoder-with-past graphs)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoTokenizer, GenerationConfig

from t5sum.errors import T5SumError
from t5sum.inference.base import BatchedSummarizer, InferenceSettings

GRAPHS = ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")


def session_options(threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxSummarizer(BatchedSummarizer):
    def __init__(self, onnx_dir: str | Path, batch_size: int = 8, threads: int | None = None) -> None:
        from optimum.onnxruntime import ORTModelForSeq2SeqLM  # optional dependency: the onnx extra

        onnx_dir = Path(onnx_dir)
        missing = [name for name in GRAPHS if not (onnx_dir / name).is_file()]
        if missing:
            raise T5SumError(
                f"{onnx_dir} is not a complete t5sum ONNX export (missing {', '.join(missing)}); "
                "re-run `python -m t5sum.export run_dir=<run>`."
            )
        settings = InferenceSettings.from_model_dir(onnx_dir)
        super().__init__(
            AutoTokenizer.from_pretrained(onnx_dir),
            settings,
            GenerationConfig.from_pretrained(onnx_dir),
            batch_size=batch_size,
        )
        try:
            # the unmerged decoders: optimum's merged decoder sizes its cache as d_model / heads, which is
            # wrong for flan-t5-small (d_kv 64, 512 / 6 heads)
            self.model = ORTModelForSeq2SeqLM.from_pretrained(
                onnx_dir, use_merged=False, session_options=session_options(threads)
            )
        except Exception as err:
            raise T5SumError(f"Could not load the ONNX export in {onnx_dir}: {err}") from err

    def generate_ids(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: GenerationConfig
    ) -> torch.Tensor:
        return self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=config
        )
