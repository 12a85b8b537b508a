"""The PyTorch backend: any HF seq2seq model (a run dir's model/ with LoRA merged, a dir, a hub name)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from t5sum.inference.base import BatchedSummarizer, InferenceSettings


class TorchSummarizer(BatchedSummarizer):
    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        settings: InferenceSettings,
        generation_config: GenerationConfig,
        batch_size: int = 8,
        device: str = "cpu",
    ) -> None:
        super().__init__(tokenizer, settings, generation_config, batch_size=batch_size)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        batch_size: int = 8,
        device: str = "cpu",
        settings: InferenceSettings | None = None,
        generation_config: GenerationConfig | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> TorchSummarizer:
        """A t5sum model dir reads its own settings; any other model (a hub name, a plain HF directory)
        needs ``settings`` and, when it has no generation_config.json or tokenizer, those as well."""
        if settings is None:
            settings = InferenceSettings.from_model_dir(name_or_path)  # the clearest error for a wrong dir
        if generation_config is None:
            generation_config = GenerationConfig.from_pretrained(name_or_path)
        return cls(
            AutoModelForSeq2SeqLM.from_pretrained(name_or_path),
            tokenizer or AutoTokenizer.from_pretrained(name_or_path),
            settings,
            generation_config,
            batch_size=batch_size,
            device=device,
        )

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
