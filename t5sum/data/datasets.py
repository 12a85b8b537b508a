"""One small module per public dataset: the hub id and column names of each, as published."""

from __future__ import annotations

from types import MappingProxyType

import datasets

from t5sum.data.datamodule import SummarizationDataModule


class PubMedDataModule(SummarizationDataModule):
    """ccdv/pubmed-summarization: `article` -> `abstract`. Inputs run far past 512 tokens."""

    HUB_PATH = "ccdv/pubmed-summarization"
    HUB_CONFIG = "section"
    COLUMNS = MappingProxyType({"document": "article", "summary": "abstract"})


class CNNDailyMailDataModule(SummarizationDataModule):
    """abisee/cnn_dailymail 3.0.0: `article` -> `highlights` (one highlight per line, which Lsum uses)."""

    HUB_PATH = "abisee/cnn_dailymail"
    HUB_CONFIG = "3.0.0"
    COLUMNS = MappingProxyType({"id": "id", "document": "article", "summary": "highlights"})


class XSumDataModule(SummarizationDataModule):
    """EdinburghNLP/xsum: BBC article `document` -> one-sentence `summary`."""

    HUB_PATH = "EdinburghNLP/xsum"
    COLUMNS = MappingProxyType({"id": "id", "document": "document", "summary": "summary"})


class DialogSumDataModule(SummarizationDataModule):
    """knkarthick/dialogsum: `dialogue` -> `summary`; turns are "#Person1#: ..." lines."""

    HUB_PATH = "knkarthick/dialogsum"
    COLUMNS = MappingProxyType({"id": "id", "document": "dialogue", "summary": "summary"})

    def clean_rows(self, ds: datasets.Dataset) -> datasets.Dataset:
        # some releases use "\r\n" between turns; the prompt and ROUGE-Lsum expect "\n"
        return ds.map(
            lambda row: {"document": row["document"].replace("\r\n", "\n")}, desc="normalise newlines"
        )


class LocalFilesDataModule(SummarizationDataModule):
    """Your own jsonl/csv/parquet files: `data_dir` with {train,validation,test}.<ext>, or `data_files`."""
