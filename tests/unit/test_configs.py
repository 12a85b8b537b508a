"""Every YAML composes and validates offline; every experiment preset trains under fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import MissingConfigException

from t5sum.config import CONFIG_DIR, RESOURCES, check_config
from t5sum.errors import ConfigError
from t5sum.train import train

# azure/ belongs to conf/azure.yaml (python -m t5sum.azure), validated by tests/unit/test_azure.py
GROUPS = sorted(
    p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in ("hydra", "paths", "azure")
)
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONFIG_DIR / g).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
SAMPLE = str(RESOURCES / "sample")


def test_every_yaml_is_covered() -> None:
    covered = {CONFIG_DIR / g / f"{o}.yaml" for g, o in OPTIONS}
    covered |= {
        CONFIG_DIR / "train.yaml",
        CONFIG_DIR / "hydra/default.yaml",
        CONFIG_DIR / "paths/default.yaml",
        CONFIG_DIR / "export.yaml",  # composed by the export CLI test in test_onnx.py
        CONFIG_DIR / "evaluate.yaml",  # composed by tests/unit/test_evaluate.py
        CONFIG_DIR / "serve.yaml",  # composed by tests/unit/test_serving.py
        CONFIG_DIR / "demo.yaml",  # composed by the CLI test in tests/unit/test_demo.py
        CONFIG_DIR / "azure.yaml",  # composed with every azure/ profile by tests/unit/test_azure.py
        *(CONFIG_DIR / "azure").glob("*.yaml"),
    }
    assert covered == set(CONFIG_DIR.rglob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_validates(make_cfg, group: str, option: str) -> None:
    cfg = make_cfg(f"{group}={option}")
    if (group, option) == ("long_input", "chunk_merge"):  # inference only: evaluate/serve, not train
        with pytest.raises(ConfigError, match="inference-only"):
            check_config(cfg)
        return
    check_config(cfg)  # imports each _target_ and binds its keys to the signature


def test_misspelled_key_is_reported_with_every_problem(make_cfg) -> None:
    cfg = make_cfg("+dataset.batchsize=4", "+trainer.max_step=3", "method.name=qlora")
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    assert "batchsize" in message and "max_step" in message and "qlora" in message


def test_unknown_group_option_lists_the_available_ones(make_cfg) -> None:
    with pytest.raises(MissingConfigException) as err:
        make_cfg("dataset=pubmedd")
    assert "pubmedd" in str(err.value) and "pubmed" in str(err.value).replace("pubmedd", "")


def test_entry_without_target_is_an_error_not_a_skip(make_cfg) -> None:
    from t5sum.config import instantiate_group

    cfg = make_cfg("+callbacks.mine.patience=3")
    with pytest.raises(ConfigError, match="mine"):
        instantiate_group(cfg.callbacks)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_preset_runs_fast_dev_run(make_cfg, experiment: str, tmp_path: Path) -> None:
    cfg = make_cfg(
        f"experiment={experiment}",
        "model=tiny",  # the preset's architecture is replaced, everything else is the preset's
        f"dataset.data_dir={SAMPLE}",
        "debug=fdr",
        "generation.max_new_tokens=8",
        "generation.min_new_tokens=0",
    )
    metrics, objects = train(cfg)
    assert objects["trainer"].global_step == 1
    assert metrics["val/num_examples"] > 0 and metrics["test/num_examples"] > 0
    assert (Path(cfg.paths.output_dir) / "model" / "model.safetensors").is_file()


def test_presets_carry_the_published_recipes(make_cfg) -> None:
    pubmed = make_cfg("experiment=pubmed_t5base_full")
    assert (pubmed.dataset.train_samples, pubmed.dataset.batch_size, pubmed.trainer.max_epochs) == (
        25000,
        4,
        3,
    )
    assert (pubmed.optimizer.lr, pubmed.module.warmup_steps, pubmed.module.weight_decay) == (5e-5, 500, 0.01)
    assert pubmed.module.scheduler == "linear" and pubmed.model.name_or_path.endswith("t5-base")
    lora = make_cfg("experiment=dialogsum_flant5base_lora")
    assert (lora.method.r, lora.method.alpha, list(lora.method.target_modules)) == (32, 32, ["q", "v"])
    assert lora.optimizer.lr == 1e-3
    assert lora.model.prompt_template == "Summarize the following conversation.\n\n{document}\n\nSummary: "
    xsum = make_cfg("experiment=xsum_t5small_lora")
    assert (xsum.dataset.max_source_length, xsum.trainer.max_epochs, xsum.method.name) == (1024, 1, "lora")


def test_dialogsum_scores_against_the_first_reference_like_its_official_baseline(make_cfg) -> None:
    assert make_cfg("dataset=dialogsum").module.multi_ref == "first"
    assert make_cfg("dataset=xsum").module.multi_ref == "max"
    assert make_cfg("dataset=dialogsum", "dataset.multi_ref=mean").module.multi_ref == "mean"
