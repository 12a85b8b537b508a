"""The PyTorch backend: a saved HF seq2seq model (a run dir's model/, LoRA already merged)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

from t5sum.inference.base import BatchedSummarizer, InferenceSettings


class TorchSummarizer(BatchedSummarizer):
    def __init__(self, model_dir: str | Path, batch_size: int = 8, device: str = "cpu") -> None:
        model_dir = Path(model_dir)
        settings = InferenceSettings.from_model_dir(model_dir)  # first: the clearest error for a wrong dir
        super().__init__(
            AutoTokenizer.from_pretrained(model_dir),
            settings,
            GenerationConfig.from_pretrained(model_dir),
            batch_size=batch_size,
        )
        self.device = torch.device(device)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).to(self.device).eval()

    @torch.inference_mode()
    def generate_ids(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: GenerationConfig
    ) -> torch.Tensor:
        output = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            generation_config=config,
        )
        return output.cpu()
