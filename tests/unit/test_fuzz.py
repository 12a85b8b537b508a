"""Schemathesis fuzzes the API from its OpenAPI schema against a real server on 127.0.0.1, with a valid
key: no 5xx, no status code the schema does not document, responses that match their schemas; and
`ignored_auth` checks that every secured operation really refuses requests without the key."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.serving_helpers import AUTH, Server, make_app

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")


def test_api_conforms_to_its_schema_under_fuzzing(summarizer) -> None:
    checks = schemathesis.checks
    selected = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.response_schema_conformance,
        checks.content_type_conformance,
        checks.ignored_auth,
    ]
    app, spy = make_app(summarizer)
    with Server(app) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=dict(AUTH))
        operations = [result.ok() for result in schema.get_all_operations()]
        names = {f"{op.method.upper()} {op.path}" for op in operations}
        assert names >= {"POST /score", "GET /ready", "GET /info", "GET /metrics", "GET /health"}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case) -> None:
                case.call_and_validate(
                    base_url=url, headers=dict(AUTH), checks=selected
                )  # it adds to the dict

            fuzz()
    assert len(spy.calls) > 1  # the fuzzer did reach the model, not only the validation layer
