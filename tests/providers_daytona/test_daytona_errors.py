"""Each kind of Daytona failure becomes one error of ours, with the right retry advice."""

from __future__ import annotations

import pytest
from daytona import (
    DaytonaConnectionError,
    DaytonaConnectionTimeoutError,
    DaytonaError,
    DaytonaQueueTimeoutError,
    DaytonaSpotEvictedError,
)
from daytona.common.errors import create_daytona_error

from computerouter.errors import (
    InstanceNotFound,
    ProviderError,
    ProviderUnavailable,
)
from computerouter.providers.daytona.errors import from_daytona, retry_after, translate


def _http(status: int, message: str = "boom", **headers: str) -> DaytonaError:
    return create_daytona_error(message, status_code=status, headers=headers)


PE, PU, NF = ProviderError, ProviderUnavailable, InstanceNotFound

CASES = [
    # (name, exception, error class, retryable, retry_after_s)
    (
        "429 with Retry-After",
        _http(429, "slow down", **{"Retry-After": "7"}),
        PE,
        True,
        7.0,
    ),
    ("429 without Retry-After", _http(429), PE, True, None),
    ("500", _http(500), PU, True, None),
    ("502", _http(502), PU, True, None),
    ("503 with Retry-After", _http(503, **{"retry-after": "3"}), PU, True, 3.0),
    ("504", _http(504), PU, True, None),
    ("connection refused", DaytonaConnectionError("refused"), PU, True, None),
    ("request timeout", DaytonaConnectionTimeoutError("read timed out"), PE, True, None),
    ("408", _http(408), PE, True, None),
    (
        "queue timeout",
        DaytonaQueueTimeoutError("no runner in 5 minutes"),
        PU,
        True,
        None,
    ),
    ("spot eviction", DaytonaSpotEvictedError("evicted"), PE, True, None),
    (
        "quota",
        _http(403, "Total CPU quota exceeded. Maximum allowed: 4"),
        PU,
        True,
        None,
    ),
    ("401", _http(401, "Invalid API key"), PU, False, None),
    ("403", _http(403, "Forbidden"), PU, False, None),
    ("404 on an instance", _http(404, "Sandbox not found"), NF, False, None),
    ("410 on an instance", _http(410, "gone"), NF, False, None),
    ("409", _http(409, "Sandbox state change in progress"), PE, True, None),
    ("400", _http(400, "bad cpu"), PE, False, None),
    ("422", _http(422), PE, False, None),
    ("client-side", DaytonaError("client closed"), PE, False, None),
    ("not the SDK's", ValueError("odd"), PE, False, None),
]


@pytest.mark.parametrize(
    ("name", "exc", "kind", "retryable", "after"), CASES, ids=[c[0] for c in CASES]
)
def test_each_failure_maps_to_one_error(
    name: str, exc: BaseException, kind: type[ProviderError], retryable: bool, after: float | None
) -> None:
    error = from_daytona(exc, where="create", instance_id="sb-1")

    assert type(error) is kind
    assert error.provider == "daytona"
    assert error.retryable is retryable
    assert error.retry_after_s == after


def test_the_api_key_message_says_what_to_set() -> None:
    error = from_daytona(_http(401, "Invalid API key"), where="list")
    assert "api_key" in str(error)
    assert str(error).startswith("daytona: list")


def test_a_404_without_an_instance_is_a_plain_error() -> None:
    assert type(from_daytona(_http(404), where="list")) is ProviderError


def test_retry_after_reads_an_http_date() -> None:
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


def test_translate_keeps_the_sdk_error_as_cause() -> None:
    original = _http(503)
    with pytest.raises(ProviderUnavailable) as caught, translate("start", "sb-9"):
        raise original
    assert caught.value.__cause__ is original
    assert "start sb-9" in str(caught.value)
