"""Where rows come from: local files (jsonl/csv/parquet) or the Hugging Face Hub, normalised to
{id, document, summary} (plus `references` when a split carries several)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import datasets

from t5sum.errors import DataSourceError

log = logging.getLogger(__name__)

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
CANONICAL = ("id", "document", "summary")


def find_split_file(data_dir: str | Path, split: str) -> Path:
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataSourceError(f"dataset.data_dir={str(data_dir)!r} is not a directory.")
    for suffix in FORMATS:
        candidate = data_dir / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    found = sorted(p.name for p in data_dir.iterdir() if p.suffix in FORMATS)
    raise DataSourceError(
        f"No '{split}' split in {str(data_dir)!r}: expected {split}.jsonl, {split}.csv or {split}.parquet "
        f"(found: {', '.join(found) or 'no data files'})."
    )


def load_local_file(path: str | Path) -> datasets.Dataset:
    path = Path(path).expanduser()
    if path.suffix not in FORMATS:
        raise DataSourceError(f"Unsupported data file {str(path)!r}: use one of {', '.join(FORMATS)}.")
    if not path.is_file():
        raise DataSourceError(f"Data file {str(path)!r} does not exist.")
    return datasets.load_dataset(FORMATS[path.suffix], data_files=str(path), split="train")


def load_hub_split(hub_path: str, hub_config: str | None, split: str) -> datasets.Dataset:
    try:
        return datasets.load_dataset(hub_path, hub_config, split=split)
    except Exception as err:  # the hub raises many types (ConnectionError, OfflineModeIsEnabled, ...)
        reason = str(err).splitlines()[0] if str(err) else ""
        raise DataSourceError(
            f"Could not load split '{split}' of dataset '{hub_path}' from the Hugging Face Hub "
            f"({type(err).__name__}: {reason}). Without network access, "
            "point `dataset.data_dir=` at a folder with train/validation/test .jsonl/.csv/.parquet files."
        ) from err


def load_split(
    split: str,
    *,
    data_dir: str | None = None,
    data_files: Mapping[str, str] | None = None,
    hub_path: str | None = None,
    hub_config: str | None = None,
    hub_split: str | None = None,
) -> datasets.Dataset:
    """Local files win over the hub when given."""
    if data_files and split in data_files:
        return load_local_file(data_files[split])
    if data_dir:
        return load_local_file(find_split_file(data_dir, split))
    if hub_path:
        return load_hub_split(hub_path, hub_config, hub_split or split)
    raise DataSourceError(
        f"No source for split '{split}': set `dataset.data_dir=` (local files) or `dataset.hub_path=`."
    )


def normalize_columns(
    ds: datasets.Dataset, columns: Mapping[str, str | None], split: str
) -> datasets.Dataset:
    """Rename source columns to {id, document, summary}; a column already named canonically is accepted."""
    rename: dict[str, str] = {}
    missing: list[str] = []
    for field in CANONICAL:
        source = columns.get(field) or field
        if source in ds.column_names:
            rename[source] = field
        elif field in ds.column_names:
            rename[field] = field
        elif field != "id":
            missing.append(f"`dataset.columns.{field}` ({source!r})")
    if missing:
        raise DataSourceError(
            f"Split '{split}' has no column for {' and '.join(missing)}; its columns are "
            f"{ds.column_names}. Set the mapping, e.g. dataset.columns.document=<column>."
        )
    keep = [*rename, *(["references"] if "references" in ds.column_names else [])]
    ds = ds.select_columns(keep).rename_columns({k: v for k, v in rename.items() if k != v})
    if "id" not in ds.column_names:
        ds = ds.add_column("id", [f"{split}-{i}" for i in range(len(ds))])
    return ds.cast_column("id", datasets.Value("string")) if ds.features["id"].dtype != "string" else ds


def drop_empty(ds: datasets.Dataset, split: str) -> tuple[datasets.Dataset, int]:
    """Drop rows whose document or summary is empty/whitespace; return the kept rows and the dropped count."""

    def has_text(row: dict) -> bool:
        return bool(row["document"] and row["document"].strip() and row["summary"] and row["summary"].strip())

    kept = ds.filter(has_text, desc=f"drop empty ({split})")
    dropped = len(ds) - len(kept)
    if dropped:
        log.warning("%s: dropped %d of %d rows with an empty document or summary", split, dropped, len(ds))
    if len(kept) == 0:
        raise DataSourceError(
            f"Split '{split}' is empty after dropping rows with an empty document or summary "
            f"({len(ds)} rows before). Check `dataset.columns` and the data files."
        )
    return kept, dropped


def subsample(ds: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    if n is None or n >= len(ds):
        return ds
    if n <= 0:
        raise DataSourceError(f"Sample size must be positive, got {n}.")
    return ds.shuffle(seed=seed).select(range(n))
