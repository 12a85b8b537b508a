"""`python -m t5sum.evaluate run_dir=<run> [baseline=initial]`: score a model, compare, write a report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from transformers import GenerationConfig

from t5sum.config import CONFIG_DIR, long_input_presets
from t5sum.data.long_input import LongInput
from t5sum.data.tokenize import tokenizer_fingerprint
from t5sum.errors import ConfigError, T5SumError, exit_on_errors
from t5sum.evaluation.coverage import coverage_rows, over_budget_share
from t5sum.evaluation.evaluator import (
    SPLITS,
    EvalData,
    compare,
    confidence_intervals,
    evaluate_summarizer,
    load_eval_data,
    prediction_rows,
)
from t5sum.evaluation.systems import (
    INITIAL,
    RunInfo,
    System,
    initial_system,
    load_run,
    model_system,
    run_system,
)
from t5sum.inference.base import OVERRIDABLE, InferenceSettings
from t5sum.metrics import metric_profile
from t5sum.metrics.rouge import MULTI_REF
from t5sum.run_dir import write_json, write_jsonl

log = logging.getLogger("t5sum.evaluate")
LONG_SPLIT_SHARE = 0.1  # more documents than this over the budget: the report shows what each strategy keeps
SAMPLE_KEYS = {"train": "train_samples", "validation": "val_samples", "test": "test_samples"}


def dataset_config(cfg: DictConfig, run: RunInfo | None) -> DictConfig:
    if cfg.get("dataset") is not None:
        return cfg.dataset
    if run is not None:
        return run.config.dataset
    raise ConfigError("Nothing to evaluate on: pass dataset=<name> (e.g. dataset=xsum) or run_dir=<run dir>.")


def generation_values(cfg: DictConfig, dataset_name: str) -> dict[str, Any]:
    """The generation group when chosen, else the dataset's defaults from conf/generation/."""
    if cfg.get("generation") is not None:
        return OmegaConf.to_container(cfg.generation, resolve=True)
    path = CONFIG_DIR / "generation" / f"{dataset_name}.yaml"
    values = OmegaConf.load(path if path.is_file() else CONFIG_DIR / "generation" / "default.yaml")
    base = OmegaConf.load(CONFIG_DIR / "generation" / "default.yaml")
    merged = OmegaConf.merge(base, {k: v for k, v in values.items() if k != "defaults"})
    return OmegaConf.to_container(merged)


def target_system(cfg: DictConfig, run: RunInfo | None, dataset: DictConfig) -> System:
    """The model to score; `long_input=` replaces the run's recorded strategy (e.g. chunk_merge)."""
    long_input = LongInput.from_config(cfg.get("long_input")) if cfg.get("long_input") else None
    if run is not None:
        system = run_system(run, cfg.backend, cfg.batch_size)
        if cfg.get("generation") is not None:
            system.summarizer.generation_config = _generation_config(
                cfg, dataset.name, system.summarizer.tokenizer
            )
        if long_input is not None:
            system.summarizer.settings = system.summarizer.settings.with_long_input(long_input)
        return system
    from t5sum.model.build import load_tokenizer

    tokenizer = load_tokenizer(cfg.model.tokenizer)
    settings = InferenceSettings(cfg.model.prompt_template, int(dataset.max_source_length))
    if long_input is not None:
        settings = settings.with_long_input(long_input)
    return model_system(
        cfg.model.name_or_path,
        settings,
        _generation_config(cfg, dataset.name, tokenizer),
        cfg.batch_size,
        label=str(cfg.model.name_or_path),
        backend=cfg.backend,
        tokenizer=tokenizer,
    )


def _generation_config(cfg: DictConfig, dataset_name: str, tokenizer) -> GenerationConfig:
    from t5sum.model.module import generation_config_from

    return generation_config_from(generation_values(cfg, dataset_name), tokenizer)


def baseline_system(cfg: DictConfig, run: RunInfo | None, tuned: System) -> System | None:
    if not cfg.get("baseline"):
        return None
    like = tuned.summarizer
    if cfg.baseline == INITIAL:
        if run is None:
            raise ConfigError(
                "baseline=initial needs run_dir=<run dir>: it rebuilds the run's starting weights."
            )
        return initial_system(run, like, cfg.batch_size)
    return model_system(
        str(cfg.baseline),
        like.settings,
        like.generation_config,
        cfg.batch_size,
        "baseline",
        tokenizer=like.tokenizer,
    )


def output_dir(cfg: DictConfig, run: RunInfo | None, dataset_name: str) -> Path:
    if cfg.get("out_dir"):
        return Path(cfg.out_dir)
    if run is not None:
        return run.path / "eval" / f"{dataset_name}-{cfg.split}"
    return Path(HydraConfig.get().runtime.output_dir)


def long_input_coverage(system: System, data: EvalData) -> list[dict[str, Any]] | None:
    """The model-free coverage table of every long-input strategy, when the split has long inputs (over
    LONG_SPLIT_SHARE of its documents past the budget); None otherwise."""
    settings = system.summarizer.settings
    if (
        over_budget_share([m.source_tokens for m in data.inputs], settings.max_source_length)
        <= LONG_SPLIT_SHARE
    ):
        return None
    return coverage_rows(
        system.summarizer.tokenizer,
        settings.prompt_template,
        data.documents,
        data.first_references,
        settings.max_source_length,
        {**long_input_presets(), settings.long_input.strategy: settings.long_input},  # the evaluated one
    )


def check_request(cfg: DictConfig) -> None:
    problems = []
    if cfg.split not in SPLITS:
        problems.append(f"split={cfg.split!r} is not a split: use one of {', '.join(SPLITS)}")
    unknown = sorted(set(cfg.generate) - set(OVERRIDABLE))
    if unknown:
        problems.append(f"generate.{unknown[0]} is not a generation override: use {', '.join(OVERRIDABLE)}")
    if cfg.backend not in ("torch", "onnx"):
        problems.append(f"backend={cfg.backend!r}: use torch or onnx")
    if cfg.multi_ref is not None and cfg.multi_ref not in MULTI_REF:
        problems.append(f"multi_ref={cfg.multi_ref!r}: use {', '.join(MULTI_REF)} or null (the dataset's)")
    if cfg.get("baseline") == INITIAL and not cfg.get("run_dir"):
        problems.append("baseline=initial needs run_dir=<run dir>: it rebuilds the run's starting weights")
    if cfg.samples is not None and int(cfg.samples) < 1:
        problems.append(f"samples={cfg.samples}: use a positive count or null")
    if problems:
        raise ConfigError("; ".join(problems) + ".")


def evaluate(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score the model (and a baseline) on one split; write metrics.json, predictions.jsonl and the report."""
    check_request(cfg)
    run = load_run(cfg.run_dir) if cfg.get("run_dir") else None
    dataset = dataset_config(cfg, run)
    multi_ref = cfg.multi_ref or dataset.get("multi_ref") or "max"
    tuned = target_system(cfg, run, dataset)
    overrides = {k: v for k, v in OmegaConf.to_container(cfg.generate).items() if v is not None}
    config = tuned.summarizer.resolve_config(overrides)
    baseline = baseline_system(cfg, run, tuned)

    def data_for(system: System):
        overrides: dict[str, Any] = {
            "tokenizer": system.summarizer.tokenizer,
            "prompt_template": system.summarizer.settings.prompt_template,
            "max_source_length": system.summarizer.settings.max_source_length,
            "long_input": system.summarizer.settings.long_input,
        }
        if cfg.samples is not None:
            overrides[SAMPLE_KEYS[cfg.split]] = int(cfg.samples)
        return load_eval_data(instantiate(dataset, **overrides), cfg.split)

    data = data_for(tuned)
    scores = evaluate_summarizer(
        tuned.summarizer, data, config, tuned.label, cfg.progress, multi_ref=multi_ref
    )
    coverage = long_input_coverage(tuned, data)
    boot = OmegaConf.to_container(cfg.bootstrap)
    result: dict[str, Any] = {
        "model": {"label": tuned.label, "source": tuned.source, "random_init": tuned.random_init},
        "backend": type(tuned.summarizer).__name__,
        "dataset": dataset.name,
        "split": cfg.split,
        "num_examples": len(data),
        "long_input": {
            **tuned.summarizer.settings.long_input.to_dict(),
            "budget": tuned.summarizer.settings.max_source_length,
        },
        "generation": {key: getattr(config, key) for key in OVERRIDABLE},
        "metric_profile": {
            **metric_profile(True),
            "model_tokenizer": type(tuned.summarizer.tokenizer).__name__,
            "multi_ref": multi_ref,
            "references_per_example": data.references_per_example,
        },
        "bootstrap": boot,
        "metrics": scores.metrics,
        "ci": confidence_intervals(scores, **boot),
        "run": {"path": str(run.path), "train_metrics": run.metrics} if run else None,
    }
    if coverage:
        result["long_input_coverage"] = coverage
    base_scores = None
    if baseline is not None:
        same_input = tokenizer_fingerprint(baseline.summarizer.tokenizer) == tokenizer_fingerprint(
            tuned.summarizer.tokenizer
        )
        base_data = data if same_input else data_for(baseline)
        if base_data.ids != data.ids:
            raise T5SumError("The baseline's examples differ from the model's: cannot pair them.")
        base_scores = evaluate_summarizer(
            baseline.summarizer, base_data, config, "baseline", cfg.progress, multi_ref=multi_ref
        )
        result["baseline"] = {
            "label": baseline.label,
            "source": baseline.source,
            "random_init": baseline.random_init,
        }
        result["baseline_metrics"] = base_scores.metrics
        result["baseline_ci"] = confidence_intervals(base_scores, **boot)
        result["comparison"] = compare(base_scores, scores, **boot)

    out_dir = output_dir(cfg, run, dataset.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = prediction_rows(data, scores, base_scores)
    write_json(out_dir / "metrics.json", result)
    write_jsonl(out_dir / "predictions.jsonl", rows)
    from t5sum.evaluation.report import write_report

    report = write_report(out_dir, result, rows, data, run, cfg.report)
    if cfg.get("logger"):
        from t5sum.evaluation.wandb_log import log_evaluation

        log_evaluation(cfg.logger, result, rows, report.plots)
    log.info("evaluation written to %s", out_dir)
    return result, {"out_dir": out_dir, "scores": scores, "baseline_scores": base_scores, "data": data}


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> str | None:
    with exit_on_errors(log):
        _, objects = evaluate(cfg)
    return str(objects["out_dir"])  # read by the comparison callback of a multirun


if __name__ == "__main__":
    main()
