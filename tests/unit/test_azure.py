"""Azure ML, offline: every spec that dry_run prints is validated by azure-ai-ml's own loaders; submit,
sweep, register and deploy run against an MLClient with a fixed-token credential and an in-memory transport
(tests/azure_helpers.py). Only the blob upload of local folders (code snapshot, model files) bypasses the
transport: it is stubbed at azure-ai-ml's seam, `_artifact_utilities._upload_to_datastore`."""

from __future__ import annotations

import io
import json
import logging
import math
import shutil
from pathlib import Path

import pytest
import yaml

pytest.importorskip("azure.ai.ml", reason="needs the azure extra: pip install -e '.[azure]'")

from azure.ai.ml import load_job
from azure.core.exceptions import ClientAuthenticationError
from omegaconf import OmegaConf

from t5sum.azure import main, run, split_overrides
from t5sum.cloud.settings import CODE_ROOT, compose, training_config
from t5sum.cloud.sweeps import sweep_spec
from t5sum.cloud.validate import round_trip, spec_problems
from t5sum.cloud.workspace import NO_CREDENTIALS, CredentialsError, connect
from t5sum.config import CONFIG_DIR, RESOURCES
from t5sum.errors import ConfigError
from tests.azure_helpers import SUMMARY, FixedCredential, RecordingTransport

PROFILES = sorted(p.stem for p in (CONFIG_DIR / "azure").glob("*.yaml"))
WORKSPACE = ["AZURE_SUBSCRIPTION_ID=sub-1", "AZURE_RESOURCE_GROUP=rg-1", "AZUREML_WORKSPACE=ws-1"]
LORA = "experiment=dialogsum_flant5base_lora"
PRESET = "hparams_search=dialogsum_lora_optuna"


@pytest.fixture
def code(tmp_path: Path) -> Path:
    """A small code snapshot (the real one hashes the whole checkout): pyproject.toml and score.py."""
    root = tmp_path / "code"
    (root / "t5sum" / "serving").mkdir(parents=True)
    shutil.copy(CODE_ROOT / "pyproject.toml", root)
    shutil.copy(CODE_ROOT / "t5sum" / "serving" / "score.py", root / "t5sum" / "serving")
    return root


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for pair in WORKSPACE:
        monkeypatch.setenv(*pair.split("=", 1))


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The one seam that does not go through the transport: blob uploads of local folders."""
    from azure.ai.ml._artifacts import _artifact_utilities
    from azure.ai.ml.entities._assets._artifacts.artifact import ArtifactStorageInfo

    uploaded: list[Path] = []

    def upload(operation_scope, datastore_operation, path, asset_name=None, asset_version=None, **kwargs):
        uploaded.append(Path(path))
        return ArtifactStorageInfo(
            name=asset_name or "anonymous",
            version=asset_version or "1",
            relative_path=f"LocalUpload/{Path(path).name}",
            datastore_arm_id="/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.MachineLearningServices"
            "/workspaces/ws-1/datastores/workspaceblobstore",
            container_name="c",
            storage_account_url="https://store.blob.core.windows.net",
            is_file=Path(path).is_file(),
        )

    monkeypatch.setattr(_artifact_utilities, "_upload_to_datastore", upload)
    return uploaded


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def client(env, uploads, transport):
    return connect(
        {"subscription_id": "sub-1", "resource_group": "rg-1", "name": "ws-1"},
        credential=FixedCredential(),
        transport=transport,
    )


def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "t5sum.json").write_text("{}")
    (run / "config.yaml").write_text(
        OmegaConf.to_yaml(
            {
                "task_name": "dialogsum_flant5base_lora",
                "monitor": "val/rougeLsum",
                "model": {"name_or_path": "google/flan-t5-base"},
                "method": {"name": "lora"},
                "dataset": {"name": "dialogsum"},
            }
        )
    )
    (run / "metrics.json").write_text(json.dumps({"val/rougeLsum": 0.4123, "test/rougeLsum": 0.40, "x": 1}))
    return run


# --- configs and dry runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_azure_profile_composes_with_every_key_used(profile: str) -> None:
    cfg = compose("azure", [f"azure={profile}"])
    assert {"workspace", "job", "environment", "sweep", "register", "deploy"} <= set(cfg.azure)


def test_overrides_split_between_azure_and_training() -> None:
    azure, train = split_overrides([LORA, "azure=t4_cluster", "azure.job.instance_count=2", "dry_run=true"])
    assert azure == ["azure=t4_cluster", "azure.job.instance_count=2", "dry_run=true"]
    assert train == [LORA]


def test_dry_run_submit_prints_a_job_the_sdk_loads_with_the_same_overrides(code, capsys) -> None:
    spec = run("submit", [LORA, "trainer.max_steps=50", f"azure.code_dir={code}", "dry_run=true"])
    assert capsys.readouterr().out.strip() == spec.strip()
    job = load_job(source=io.StringIO(spec))
    assert job.command.startswith(
        "python -m t5sum.train experiment=dialogsum_flant5base_lora trainer.max_steps=50"
    )
    assert "trainer=t4" in job.command and "logger=mlflow" in job.command
    assert job.resources.instance_count == 1 and job.distribution.process_count_per_instance == 1
    conda = job.environment.conda_file["dependencies"][-1]["pip"]
    assert "torch==2.13.0" in conda and any(p.startswith("azureml-mlflow==") for p in conda)


def test_multi_node_submit_sets_num_nodes_and_ddp(code) -> None:
    spec = run("submit", [LORA, f"azure.code_dir={code}", "azure.job.instance_count=4", "dry_run=true"])
    command = load_job(source=io.StringIO(spec)).command
    assert "++trainer.num_nodes=4" in command and "trainer.devices=1" in command
    assert "++trainer.strategy=ddp" in command
    # the job's own command composes locally into a 4-node DDP run on T4s with MLflow
    overrides = command.split("python -m t5sum.train ", 1)[1].split()
    cfg = training_config(overrides)
    assert (cfg.trainer.num_nodes, cfg.trainer.strategy, cfg.trainer.accelerator) == (4, "ddp", "gpu")
    assert cfg.logger.mlflow.run_id is None  # ${oc.env:MLFLOW_RUN_ID}: the job's own run on Azure


def test_dry_run_sweep_carries_the_preset(code) -> None:
    spec = run("sweep", [PRESET, f"azure.code_dir={code}", "dry_run=true"])
    sweep = load_job(source=io.StringIO(spec))
    assert sweep.objective.primary_metric == "val/rougeLsum" and sweep.objective.goal == "maximize"
    assert sweep.limits.max_total_trials == 20 and sweep.limits.max_concurrent_trials == 4
    assert sweep.early_termination.type == "bandit" and sweep.early_termination.slack_factor == 0.1
    space = sweep.search_space
    assert space["method_r"].values == [8, 16, 32]
    # Azure's loguniform draws exp(uniform(min, max)): the bounds are logs of the preset's interval
    assert space["optimizer_lr"].type == "loguniform"
    assert pytest.approx(space["optimizer_lr"].min_value) == math.log(1e-4)
    command = sweep.trial.command
    assert "hparams_search=dialogsum_lora_optuna hydra.mode=RUN" in command  # one run per trial
    assert "optimizer.lr=${{search_space.optimizer_lr}}" in command


def test_trial_command_is_a_single_run_of_the_preset() -> None:
    cfg = training_config([PRESET, "hydra.mode=RUN", "method.r=16"], return_hydra_config=True)
    assert str(cfg.hydra.mode) == "RunMode.RUN" and cfg.method.r == 16 and cfg.method.name == "lora"


def test_dry_run_register_and_deploy(tmp_path, code) -> None:
    spec = run("register", [f"run_dir={run_dir(tmp_path)}", "dry_run=true"])
    assert "name: dialogsum_flant5base_lora" in spec and "val/rougeLsum: '0.4123'" in spec
    spec = run("deploy", ["model=dialogsum_flant5base_lora:3", f"azure.code_dir={code}", "dry_run=true"])
    endpoint, deployment = spec.split("---\n")
    assert "auth_mode: key" in endpoint
    assert "model: azureml:dialogsum_flant5base_lora:3" in deployment
    assert "scoring_script: t5sum/serving/score.py" in deployment
    assert (
        "request_timeout_ms: 90000" in deployment and "max_concurrent_requests_per_instance: 2" in deployment
    )


# --- validation ---------------------------------------------------------------------------------------------


def test_sdk_schema_rejects_an_unknown_field_and_a_bad_enum(code) -> None:
    spec = yaml.safe_load(run("submit", [LORA, f"azure.code_dir={code}", "dry_run=true"]))
    round_trip(spec, load_job, "command job")  # as printed: valid
    spec["resources"]["instance_cout"] = 2
    with pytest.raises(ConfigError, match="instance_cout"):
        round_trip(spec, load_job, "command job")
    del spec["resources"]["instance_cout"]
    spec["distribution"]["type"] = "pytorchh"
    with pytest.raises(ConfigError, match="azure-ai-ml rejects it"):
        round_trip(spec, load_job, "command job")


@pytest.mark.parametrize(
    ("command", "overrides", "message"),
    [
        ("submit", ["+azure.job.instance_cout=2"], "azure.job.instance_cout: not an argument of command"),
        ("submit", ["azure.job.instance_count=-1"], "instance_count=-1: must not be negative"),
        ("sweep", ["azure.sweep.limits.max_concurrent_trials=-2"], "max_concurrent_trials=-2"),
        ("sweep", ["+azure.sweep.early_termination.slack_factr=0.2"], "slack_factr"),
        (
            "sweep",
            ["azure.sweep.sampling_algorithm=bayesian"],
            "bayesian sampling takes no early termination",
        ),
        ("sweep", ["azure.sweep.sampling_algorithm=grid"], "optimizer_lr: grid sampling needs choice"),
        ("deploy", ["+azure.deploy.request_settings.request_timeout=5"], "request_timeout: not an argument"),
        ("deploy", ["azure.deploy.deployment.instance_count=-1"], "instance_count=-1"),
    ],
)
def test_t5sum_checks_what_the_sdk_loaders_miss(code, command, overrides, message) -> None:
    # `+key=` stands for a key written into a profile YAML: Hydra itself refuses an unknown key on the CLI
    extra = {"submit": [LORA], "sweep": [PRESET], "deploy": ["model=m:1"]}[command]
    with pytest.raises(ConfigError, match=message):
        run(command, [*extra, *overrides, f"azure.code_dir={code}", "dry_run=true"])


def test_spec_checks_report_every_problem_at_once() -> None:
    problems = spec_problems(
        {
            "type": "sweep",
            "trial": {"command": "python -m t5sum.train a=${{inputs.lr}} b=${{search_space.r}}"},
            "search_space": {"r": {"type": "uniform", "min_value": 5, "max_value": 1}},
            "sampling_algorithm": "grid",
            "limits": {"max_total_trials": -3},
        }
    )
    text = "\n".join(problems)
    assert "${{inputs.lr}} is not defined" in text
    assert "min_value 5 > max_value 1" in text and "grid sampling" in text and "max_total_trials=-3" in text
    assert "search_space.r}}" not in text  # a defined entry is fine


def test_a_bad_training_override_fails_before_anything_is_sent(code) -> None:
    with pytest.raises(ConfigError, match="pubmedd"):
        run("submit", ["dataset=pubmedd", f"azure.code_dir={code}", "dry_run=true"])
    with pytest.raises(ConfigError, match="follow the cluster"):
        run("submit", [LORA, "trainer.num_nodes=2", f"azure.code_dir={code}", "dry_run=true"])


# --- primary metric = what training logs ----------------------------------------------------------------


def test_sweep_primary_metric_is_a_metric_training_logs(make_cfg, code) -> None:
    from t5sum.train import train

    azure = compose("azure", [f"azure.code_dir={code}"]).azure
    node, _ = sweep_spec(azure, [PRESET])
    cfg = make_cfg(
        "model=tiny",
        "dataset=sample",
        f"dataset.data_dir={RESOURCES / 'sample'}",
        "debug=fdr",
        "generation.max_new_tokens=4",
        "generation.min_new_tokens=0",
        "test_after_fit=false",
    )
    metrics, _ = train(cfg)
    assert node.objective.primary_metric == cfg.monitor
    assert node.objective.primary_metric in metrics


# --- against the in-memory workspace ------------------------------------------------------------------------


def test_submit_sends_the_command_job(client, transport, uploads, code) -> None:
    run(
        "submit",
        [LORA, "trainer.max_steps=50", f"azure.code_dir={code}", "azure.job.instance_count=2"],
        client=client,
    )
    (job,) = transport.bodies("PUT", r"/jobs/[^/]+$")
    props = job["properties"]
    assert props["jobType"] == "Command"
    assert props["command"].startswith(
        f"python -m t5sum.train {LORA} trainer.max_steps=50 trainer=t4 logger=mlflow"
    )
    assert "++trainer.num_nodes=2" in props["command"]
    assert props["resources"]["instanceCount"] == 2
    assert props["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 1}
    assert props["computeId"].endswith("/computes/gpu-t4")
    assert props["experimentName"] == "dialogsum_flant5base_lora"
    assert props["codeId"] and uploads == [code]
    (environment,) = transport.bodies("PUT", r"/environments/[^/]+/versions/[^/]+$")
    assert environment["properties"]["image"].endswith(":20250601.v1")


def test_sweep_sends_the_sweep_job(client, transport, code) -> None:
    run("sweep", [PRESET, f"azure.code_dir={code}"], client=client)
    (job,) = transport.bodies("PUT", r"/jobs/[^/]+$")
    props = job["properties"]
    assert props["jobType"] == "Sweep"
    assert props["objective"] == {"goal": "maximize", "primaryMetric": "val/rougeLsum"}
    assert props["limits"]["maxTotalTrials"] == 20 and props["limits"]["maxConcurrentTrials"] == 4
    assert props["earlyTermination"]["policyType"] == "Bandit"
    assert props["earlyTermination"]["slackFactor"] == 0.1
    assert props["samplingAlgorithm"]["samplingAlgorithmType"] == "Random"
    space = props["searchSpace"]
    assert space["method_r"] == ["choice", [[8, 16, 32]]]
    assert space["optimizer_lr"][0] == "loguniform"
    assert "generation.num_beams=${{search_space.generation_num_beams}}" in props["trial"]["command"]


def test_register_sends_the_model_with_metric_and_config_tags(client, transport, uploads, tmp_path) -> None:
    run_path = run_dir(tmp_path)
    run("register", [f"run_dir={run_path}"], client=client)
    (model,) = transport.bodies("PUT", r"/models/[^/]+/versions/[^/]+$")
    tags = model["properties"]["tags"]
    assert tags["val/rougeLsum"] == "0.4123" and tags["method"] == "lora" and tags["format"] == "model"
    assert tags["base_model"] == "google/flan-t5-base"
    assert uploads == [run_path / "model"]


def test_register_onnx_needs_the_export(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"t5sum\.export"):
        run("register", [f"run_dir={run_dir(tmp_path)}", "azure.register.source=onnx", "dry_run=true"])


def test_deploy_creates_a_key_endpoint_a_deployment_and_smokes_it(client, transport, code, caplog) -> None:
    caplog.set_level(logging.INFO, "t5sum.cloud.endpoints")
    run("deploy", ["model=dialogsum_flant5base_lora:3", f"azure.code_dir={code}"], client=client)
    endpoints = transport.bodies("PUT", r"/onlineEndpoints/[^/]+$")
    assert endpoints[0]["properties"]["authMode"] == "Key"
    assert endpoints[-1]["properties"]["traffic"] == {"blue": 100}
    (deployment,) = transport.bodies("PUT", r"/deployments/blue$")
    props = deployment["properties"]
    assert props["requestSettings"]["requestTimeout"] == "PT1M30S"
    assert props["requestSettings"]["maxConcurrentRequestsPerInstance"] == 2
    assert props["model"].endswith("/models/dialogsum_flant5base_lora/versions/3")
    assert props["codeConfiguration"]["scoringScript"] == "t5sum/serving/score.py"
    assert props["instanceType"] == "Standard_DS3_v2" and deployment["sku"]["capacity"] == 1
    (smoke,) = transport.bodies("POST", r"inference\.ml\.azure\.com/score$")
    assert smoke == {"texts": [compose("azure", []).azure.deploy.smoke_text]}  # the batched form
    assert SUMMARY in caplog.text


# --- credentials and the callback ---------------------------------------------------------------------------


class NoCredential:
    def get_token(self, *scopes, **kwargs):
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")


def test_missing_credentials_end_in_one_sentence_and_exit_code_2(env, code, monkeypatch, caplog) -> None:
    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", NoCredential)
    with pytest.raises(CredentialsError, match="az login"):
        run("submit", [LORA, f"azure.code_dir={code}"])
    with pytest.raises(SystemExit) as exit_info:
        main(["submit", LORA, f"azure.code_dir={code}"])
    assert exit_info.value.code == 2
    assert NO_CREDENTIALS in caplog.text and "Traceback" not in caplog.text


def test_missing_workspace_names_the_environment_variables(code, monkeypatch) -> None:
    for pair in WORKSPACE:
        monkeypatch.delenv(pair.split("=")[0], raising=False)
    with pytest.raises(ConfigError, match="AZURE_SUBSCRIPTION_ID"):
        run("submit", [LORA, f"azure.code_dir={code}"])


def test_azure_register_callback_registers_the_run_dir(client, transport, tmp_path, monkeypatch) -> None:
    import t5sum.cloud.workspace as workspace
    from t5sum.callbacks import AzureRegister
    from t5sum.config import import_target

    monkeypatch.setattr(workspace, "connect", lambda cfg, **kwargs: client)
    node = OmegaConf.load(CONFIG_DIR / "callbacks" / "azure_register.yaml").azure_register
    callback = import_target(node._target_)(azure=node.azure, overrides=["azure.register.name=my-model"])
    assert isinstance(callback, AzureRegister)
    callback.on_run_dir_written(run_dir(tmp_path))
    (model,) = transport.bodies("PUT", r"/models/my-model/versions/[^/]+$")
    assert model["properties"]["tags"]["task_name"] == "dialogsum_flant5base_lora"
