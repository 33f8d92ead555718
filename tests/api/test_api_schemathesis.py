"""Acceptance (published OpenAPI): schemathesis drives every operation of ``/openapi.json``
with generated requests on a live server: no 5xx, and every error response has the one error
shape with a documented code."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from computerouter.testing.live_api import Api
from computerouter.wire.errors import ERROR_TABLE

CODES = {spec.code for spec in ERROR_TABLE}


def check_response(case: schemathesis.Case, key: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    where = (case.method, case.formatted_path, response.text[:300])
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, where
        error = body["error"]
        assert set(error) == {"code", "message", "retryable", "request_id", "details"}, where
        assert error["code"] in CODES, where
        assert [error["request_id"]] == response.headers["x-request-id"], where


def test_no_5xx_and_every_error_has_the_shape(api: Api) -> None:
    api.client(api.alice).agents.create("sb1", slug="support", prompt="Be kind.")
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    keys = st.sampled_from([api.alice, api.admin, "cr_key_unknown_secret"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 44  # every endpoint (a new one raises this)
    for operation in operations:

        @given(case=operation.as_strategy(), key=keys)
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case, key: str) -> None:
            check_response(case, key)

        check()
