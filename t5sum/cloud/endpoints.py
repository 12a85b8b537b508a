"""`python -m t5sum.azure deploy model=<name>:<version>`: a managed online endpoint (key auth) serving a
registered model with serving's score.py, then one smoke request in the batched `texts` form."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from t5sum.cloud.environment import environment
from t5sum.cloud.settings import code_dir
from t5sum.cloud.validate import raise_if, unknown_kwargs, validated_yaml
from t5sum.errors import ConfigError, T5SumError

log = logging.getLogger(__name__)
SCORING_SCRIPT = "t5sum/serving/score.py"
APP_ROOT = "/var/azureml-app"  # where managed online deployments mount the code folder


def model_reference(model: str | None) -> str:
    name, _, version = (model or "").partition(":")
    if not name or not version:
        raise ConfigError(
            f"model={model!r}: pass a registered model as <name>:<version>, e.g. model=t5sum:3."
        )
    return f"azureml:{name}:{version}"


def endpoint_spec(deploy: DictConfig):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    kwargs = OmegaConf.to_container(deploy.endpoint, resolve=True)
    raise_if(unknown_kwargs(ManagedOnlineEndpoint, kwargs, "azure.deploy.endpoint"), "endpoint")
    return ManagedOnlineEndpoint(**kwargs)


def deployment_spec(azure: DictConfig, model: str):
    from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment, OnlineRequestSettings

    deploy = azure.deploy
    kwargs = OmegaConf.to_container(deploy.deployment, resolve=True)
    settings = OmegaConf.to_container(deploy.request_settings, resolve=True)
    raise_if(
        unknown_kwargs(ManagedOnlineDeployment, kwargs, "azure.deploy.deployment")
        + unknown_kwargs(OnlineRequestSettings, settings, "azure.deploy.request_settings"),
        "deployment",
    )
    root = code_dir(azure)
    # score.py imports t5sum from the code snapshot, mounted at <APP_ROOT>/<folder name>
    variables = {"PYTHONPATH": f"{APP_ROOT}/{root.name}", **(kwargs.pop("environment_variables", None) or {})}
    return ManagedOnlineDeployment(
        endpoint_name=deploy.endpoint.name,
        model=model_reference(model),
        code_configuration=CodeConfiguration(code=str(root), scoring_script=SCORING_SCRIPT),
        environment=environment(deploy.environment, root),
        request_settings=OnlineRequestSettings(**settings),
        environment_variables={k: str(v) for k, v in variables.items()},
        **kwargs,
    )


def smoke_request(client: Any, deploy: DictConfig) -> list[str]:
    """One batched request ({"texts": [...]}) through the endpoint's key-authenticated scoring URI."""
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "request.json"
        request.write_text(json.dumps({"texts": [deploy.smoke_text]}))
        answer = client.online_endpoints.invoke(
            endpoint_name=deploy.endpoint.name,
            deployment_name=deploy.deployment.name,
            request_file=str(request),
        )
    summaries = json.loads(answer).get("summaries") if answer else None
    if not summaries or not all(isinstance(s, str) and s for s in summaries):
        raise T5SumError(f"The endpoint came up but its smoke request failed: {answer!r}")
    return summaries


def deploy(azure: DictConfig, model: str | None, client: Any = None) -> str:
    """Prints both specs; with a client: endpoint, deployment, all traffic to it, smoke request."""
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    from t5sum.cloud.workspace import credential_errors

    endpoint = endpoint_spec(azure.deploy)
    deployment = deployment_spec(azure, model)
    spec = (
        validated_yaml(endpoint, load_online_endpoint, "online endpoint")
        + "---\n"
        + validated_yaml(deployment, load_online_deployment, "online deployment")
    )
    print(spec)
    if client is None:
        return spec
    with credential_errors():
        client.online_endpoints.begin_create_or_update(endpoint).result()
        client.online_deployments.begin_create_or_update(deployment).result()
        endpoint.traffic = {deployment.name: 100}
        client.online_endpoints.begin_create_or_update(endpoint).result()
        summaries = smoke_request(client, azure.deploy)
    log.info("Endpoint %s is up; smoke summary: %s", endpoint.name, summaries[0])
    return spec
