"""`python -m t5sum.train [overrides]`: fine-tune a seq2seq model and write a self-describing run dir."""

from __future__ import annotations

import logging
import resource
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from t5sum.callbacks import NonFiniteLossGuard, RunDirCallback
from t5sum.config import check_config, instantiate_group
from t5sum.distributed import in_multirun, isolated_process_group
from t5sum.errors import NonFiniteLossError, T5SumError, exit_on_errors
from t5sum.model.build import build_model, load_tokenizer
from t5sum.model.lora import apply_lora, parameter_report
from t5sum.model.module import SummarizationModule
from t5sum.model.precision import keep_feed_forward_fp32, resolve_precision
from t5sum.run_dir import inference_settings, save_config, save_model, write_json, write_jsonl

log = logging.getLogger("t5sum.train")


def build_module(cfg: DictConfig) -> tuple[SummarizationModule, Any, dict[str, float]]:
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    model = build_model(cfg.model.name_or_path, cfg.model.from_config)
    if cfg.method.name == "lora":
        lora = OmegaConf.to_container(cfg.method, resolve=True)
        lora.pop("name")
        model = apply_lora(model, **lora)
    params = parameter_report(model)
    module = SummarizationModule(
        model,
        tokenizer,
        optimizer=instantiate(cfg.optimizer),
        generation=OmegaConf.to_container(cfg.generation, resolve=True),
        gradient_checkpointing=cfg.model.gradient_checkpointing or cfg.long_input.gradient_checkpointing,
        **cfg.module,
    )
    return module, tokenizer, params


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process so far (MB), and the GPU's peak allocation when there is one."""
    peak = {"peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # Linux: KiB
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        peak["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def restore_best_weights(trainer: L.Trainer, module: SummarizationModule) -> str | None:
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if not best:
        return None
    state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    return best


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, test with the best weights, and write the run dir. Returns (metrics, objects)."""
    with isolated_process_group():  # a multirun's next trial starts with no DDP state left over
        return fit_and_test(cfg)


def fit_and_test(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    run_started = time.perf_counter()
    check_config(cfg)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)

    module, tokenizer, params = build_module(cfg)
    log.info(
        "%s: %d parameters, %d trainable (%.2f%%, %.2f MB)",
        cfg.method.name,
        params["params_total"],
        params["params_trainable"],
        100 * params["trainable_share"],
        params["trainable_mb"],
    )
    datamodule = instantiate(
        cfg.dataset,
        tokenizer=tokenizer,
        prompt_template=cfg.model.prompt_template,
        long_input=instantiate(cfg.long_input),
    )
    callbacks = instantiate_group(cfg.callbacks)
    loggers = instantiate_group(cfg.logger)
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    if precision == "16-mixed":
        patched = keep_feed_forward_fp32(module.model)
        log.info("16-mixed: %d T5 feed-forward output projections run in fp32 (fp16 overflow).", patched)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, precision=precision
    )
    datamodule.setup("fit")  # fail on bad data before the trainer starts; Lightning reuses the splits
    data_stats = {
        f"data/{split}/{key}": value
        for split, stats in datamodule.stats.items()
        for key, value in stats.items()
    }
    for logger in loggers:
        logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), "params": params})
        logger.log_metrics(data_stats, step=0)
    if trainer.is_global_zero:
        save_config(out_dir, cfg)

    before: dict[str, float] = {}
    if cfg.validate_before_fit and not cfg.get("ckpt_path"):
        before = {
            k.replace("val/", "val_before/"): v
            for k, v in trainer.validate(module, datamodule=datamodule)[0].items()
        }

    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    train_seconds = time.perf_counter() - started
    for guard in (c for c in callbacks if isinstance(c, NonFiniteLossGuard)):
        guard.raise_if_stopped(module)

    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    best_checkpoint = restore_best_weights(trainer, module)
    test_metrics: dict[str, float] = {}
    if cfg.test_after_fit:
        trainer.test(module, datamodule=datamodule)
        test_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}

    metrics = {
        **before,
        **fit_metrics,
        **test_metrics,
        **params,
        "objective": objective(trainer, fit_metrics, cfg.monitor),
        "global_step": trainer.global_step,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - run_started,
        "train_tokens_per_second": module.train_tokens / train_seconds,
        **peak_memory(),
    }
    if trainer.is_global_zero:
        if cfg.test_after_fit:
            write_jsonl(out_dir / "predictions.jsonl", module.test_predictions)
        details = {"best_checkpoint": best_checkpoint, "data": datamodule.describe(), "precision": precision}
        write_json(out_dir / "metrics.json", {**metrics, **details})
        if cfg.save_model:
            settings = inference_settings(cfg, out_dir)
            save_model(out_dir, module.model, tokenizer, module.generation_config, settings)
        for callback in callbacks:
            if isinstance(callback, RunDirCallback):
                callback.on_run_dir_written(out_dir)
    log.info("run dir: %s", out_dir)
    return metrics, {"module": module, "datamodule": datamodule, "trainer": trainer, "cfg": cfg}


def objective(trainer: L.Trainer, metrics: dict[str, Any], monitor: str) -> float | None:
    """What a sweep optimizes: the best monitored score of the run (its best checkpoint), else the last."""
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_score is not None:
        return float(checkpoint.best_model_score)
    return metrics.get(monitor)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    if in_multirun():
        # one failed trial must not end the sweep: record why in its run dir, report no objective
        try:
            metrics, _ = train(cfg)
        except Exception as err:
            log.exception("This run failed; the sweep goes on.")
            out_dir = Path(cfg.paths.output_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "error.txt").write_text(f"{type(err).__name__}: {err}\n")
            return None
    else:
        with exit_on_errors(log, {T5SumError: 2, NonFiniteLossError: 3}):
            metrics, _ = train(cfg)
    return metrics["objective"]


if __name__ == "__main__":
    main()
