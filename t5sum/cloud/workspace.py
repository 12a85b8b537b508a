"""The workspace connection: MLClient from conf/azure/<profile>.yaml and DefaultAzureCredential."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from t5sum.errors import ConfigError, T5SumError

WORKSPACE_ENV = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group": "AZURE_RESOURCE_GROUP",
    "name": "AZUREML_WORKSPACE",
}
NO_CREDENTIALS = (
    "No Azure credentials: run `az login` (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET "
    "for a service principal), then run the command again."
)


class CredentialsError(T5SumError):
    """DefaultAzureCredential found no way to sign in."""


def connect(workspace: Mapping[str, Any], credential: Any = None, **client_kwargs: Any):
    """An MLClient for the configured workspace. `credential` defaults to DefaultAzureCredential;
    `client_kwargs` go to azure-core's pipeline (tests pass an in-memory `transport`)."""
    missing = [key for key in WORKSPACE_ENV if not workspace.get(key)]
    if missing:
        raise ConfigError(
            "The Azure ML workspace is not configured: set "
            + ", ".join(f"{WORKSPACE_ENV[k]} (or azure.workspace.{k}=...)" for k in missing)
            + "."
        )
    from azure.ai.ml import MLClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return MLClient(
        credential,
        subscription_id=workspace["subscription_id"],
        resource_group_name=workspace["resource_group"],
        workspace_name=workspace["name"],
        **client_kwargs,
    )


def create_or_update(operations: Any, entity: Any) -> Any:
    """`operations.create_or_update(entity)`, e.g. client.jobs: a failed sign-in becomes one sentence."""
    with credential_errors():
        return operations.create_or_update(entity)


@contextmanager
def credential_errors() -> Iterator[None]:
    """A failed sign-in, however deep in the SDK (which rewraps errors), becomes one sentence."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        yield
    except Exception as err:
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, ClientAuthenticationError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise CredentialsError(NO_CREDENTIALS) from err
