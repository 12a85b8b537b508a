"""An offline Azure ML workspace for tests: a fixed-token credential and an in-memory HTTP transport that
records each request and answers with canned ARM JSON (PUT echoes its body back, as ARM does)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import HttpResponse, HttpTransport

SCORING_URI = "https://t5sum-summarize.westeurope.inference.ml.azure.com/score"
SUMMARY = "Both agree to meet at the cafe at 3 pm."


class FixedCredential:
    """A TokenCredential whose token never expires."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("fake-token", 4_102_444_800)


@dataclass
class Sent:
    method: str
    url: str
    body: Any


class CannedResponse(HttpResponse):
    def __init__(self, request: Any, status: int, payload: Any) -> None:
        super().__init__(request, None)
        self.status_code = status
        self.reason = "OK" if status < 400 else "Not Found"
        self.content_type = "application/json"
        self.headers = {"content-type": "application/json"}
        self._body = json.dumps(payload).encode()

    def body(self) -> bytes:
        return self._body

    # the azure.core.rest.HttpResponse surface that newer generated clients call
    def json(self) -> Any:
        return json.loads(self._body)

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()

    def read(self) -> bytes:
        return self._body

    @property
    def content(self) -> bytes:
        return self._body

    def iter_bytes(self, **kwargs: Any):
        yield self._body

    iter_raw = iter_bytes

    def close(self) -> None:
        pass

    is_closed = True
    is_stream_consumed = True

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise HttpResponseError(response=self)


class RecordingTransport(HttpTransport):
    """Answers every request from memory; `sent` keeps (method, url, parsed body) in order."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.resources: dict[str, Any] = {}  # what was PUT, answered back to GETs and lists

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> CannedResponse:
        raw = request.body if request.body is not None else getattr(request, "content", None)
        try:
            body = json.loads(raw) if raw else None
        except (TypeError, ValueError):
            body = raw
        self.sent.append(Sent(request.method, request.url, body))
        status, payload = self.answer(request.method, request.url.split("?")[0], body)
        return CannedResponse(request, status, payload)

    def answer(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        path = re.sub(r"^https://management\.azure\.com", "", url)
        if url == SCORING_URI and method == "POST":
            return 200, {"summaries": [SUMMARY] * len(body["texts"])}
        if method == "POST" and path.endswith("/startPendingUpload"):
            sas = "https://store.blob.core.windows.net/c/path?sig=x"
            return 200, {
                "blobReferenceForConsumption": {
                    "blobUri": sas.split("?")[0],
                    "credential": {"credentialType": "SAS", "sasUri": sas},
                }
            }
        if method == "POST" and path.endswith("/listKeys"):
            return 200, {"primaryKey": "key-1", "secondaryKey": "key-2"}
        if method == "GET" and path in self.resources:
            return 200, self.resources[path]
        if method == "GET" and re.search(r"/(versions|deployments)$", path):
            children = [v for k, v in self.resources.items() if k.rsplit("/", 1)[0] == path]
            return 200, {"value": children}
        if method == "GET" and re.search(r"/workspaces/[^/]+$", path):
            return 200, self.resource(path, {"properties": {}})
        if method == "GET" and "/datastores/" in path:
            return 200, self.resource(
                path,
                {
                    "properties": {
                        "datastoreType": "AzureBlob",
                        "accountName": "store",
                        "containerName": "c",
                        "endpoint": "core.windows.net",
                        "protocol": "https",
                        "credentials": {"credentialsType": "None"},
                    }
                },
            )
        if method == "PUT":
            self.resources[path] = self.resource(path, body or {})
            return 200, self.resources[path]
        return 404, {"error": {"code": "NotFound", "message": f"no canned answer for {method} {path}"}}

    @staticmethod
    def resource(path: str, body: dict[str, Any]) -> dict[str, Any]:
        out = json.loads(json.dumps(body))
        out.update(id=path, name=path.rsplit("/", 1)[-1], location="westeurope")
        out.setdefault("properties", {})["provisioningState"] = "Succeeded"
        if "/models/" in path:
            out["properties"].setdefault("flavors", {})  # the service always answers with a flavors map
        if re.search(r"/onlineEndpoints/[^/]+$", path):
            out["properties"]["scoringUri"] = SCORING_URI
        if "/deployments/" in path:
            out["properties"].setdefault("scaleSettings", {"scaleType": "Default"})  # the service's default
        return out

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [s.body for s in self.sent if s.method == method and re.search(pattern, s.url.split("?")[0])]
