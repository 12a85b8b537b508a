"""A small client for the t5sum API: key, timeout, retry on 503 (honouring Retry-After), batching.

    from t5sum.client import Client
    client = Client("http://localhost:8000", api_key="...")      # or T5SUM_API_KEY in the environment
    client.summarize("one document")                             # -> "summary"
    client.summarize(many_documents, num_beams=4)                # -> [...], sent `batch_size` per request

CLI: python -m t5sum.client --url http://localhost:8000 [--file docs.txt|docs.jsonl] [text ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import requests


class ClientError(Exception):
    """The server refused the request (4xx/5xx after retries); `status` and the server's `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


class Client:
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        batch_size: int = 16,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        key = api_key or os.environ.get("T5SUM_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout, self.retries, self.backoff, self.batch_size = timeout, retries, backoff, batch_size
        self.session = session or requests.Session()

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            response = self.session.post(
                f"{self.url}/score", json=payload, headers=self.headers, timeout=self.timeout
            )
            if response.status_code == 503 and attempt < self.retries:
                wait = float(response.headers.get("Retry-After", self.backoff * 2**attempt))
                time.sleep(wait)
                continue
            if response.status_code != 200:
                try:
                    detail = response.json().get("detail", response.text)
                except ValueError:
                    detail = response.text
                raise ClientError(response.status_code, str(detail))
            return response.json()
        raise AssertionError("unreachable")

    @overload
    def summarize(self, texts: str, **parameters: Any) -> str: ...
    @overload
    def summarize(self, texts: Sequence[str], **parameters: Any) -> list[str]: ...
    def summarize(self, texts: str | Sequence[str], **parameters: Any) -> str | list[str]:
        extra = {"parameters": parameters} if parameters else {}
        if isinstance(texts, str):
            return self._post({"text": texts, **extra})["summary"]
        out: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            out += self._post({"texts": list(texts[start : start + self.batch_size]), **extra})["summaries"]
        return out

    def _get(self, path: str) -> dict[str, Any]:
        response = self.session.get(f"{self.url}{path}", headers=self.headers, timeout=self.timeout)
        if response.status_code != 200:
            raise ClientError(response.status_code, response.text)
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._get("/health")

    def info(self) -> dict[str, Any]:
        return self._get("/info")


def read_texts(path: Path) -> Iterator[str]:
    """One document per line (.txt), or JSON lines with a "text" or "document" field (.jsonl)."""
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            row = json.loads(line)
            yield row.get("text") or row["document"]
        else:
            yield line


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m t5sum.client", description="Summarize texts with a t5sum API."
    )
    p.add_argument("texts", nargs="*", help="documents (or use --file)")
    p.add_argument("--url", default=os.environ.get("T5SUM_URL", "http://127.0.0.1:8000"))
    p.add_argument("--key", default=None, help="API key (default: $T5SUM_API_KEY)")
    p.add_argument("--file", type=Path, help=".txt (one document per line) or .jsonl (text/document field)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--num-beams", type=int)
    args = p.parse_args(argv)
    texts = list(args.texts) + (list(read_texts(args.file)) if args.file else [])
    if not texts:
        p.error("no documents: pass texts or --file")
    parameters = {
        k: v for k, v in {"max_new_tokens": args.max_new_tokens, "num_beams": args.num_beams}.items() if v
    }
    client = Client(args.url, args.key, timeout=args.timeout, batch_size=args.batch_size)
    try:
        summaries = client.summarize(texts, **parameters)
    except (ClientError, requests.RequestException) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for summary in summaries:
        print(json.dumps({"summary": summary}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
