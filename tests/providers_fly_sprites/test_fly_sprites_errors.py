"""Sprites SDK errors -> our error tree, with the right retryable flag and retry-after."""

from __future__ import annotations

import json

import pytest
from sprites import exceptions as sx

from computerouter.errors import InstanceNotFound, ProviderError, ProviderUnavailable
from computerouter.providers.fly_sprites.errors import from_sdk, translate


def _rest(status: int, body: dict[str, object] | str) -> sx.SpriteError:
    """What the SDK's REST calls raise: the status and body folded into the message."""
    text = body if isinstance(body, str) else json.dumps(body)
    return sx.SpriteError(f"Failed create sprite (status {status}): {text}")


CASES: list[tuple[BaseException, type[ProviderError], bool, float | None]] = [
    (
        _rest(429, {"error": "concurrent_sprite_limit_exceeded", "retry_after_seconds": 30}),
        ProviderUnavailable,
        True,
        30.0,
    ),
    (
        _rest(429, {"error": "sprite_creation_rate_limited", "retry_after_seconds": 7}),
        ProviderUnavailable,
        True,
        7.0,
    ),
    (_rest(429, {"error": "rate_limited"}), ProviderUnavailable, True, None),
    (_rest(503, "upstream unavailable"), ProviderUnavailable, True, None),
    (_rest(500, {"error": "internal"}), ProviderUnavailable, True, None),
    (_rest(400, {"error": "invalid region"}), ProviderError, False, None),
    (_rest(409, {"error": "name taken"}), ProviderError, False, None),
    (sx.SpriteError("something odd"), ProviderError, False, None),
    (
        sx.APIError(
            "x", status_code=429, error_code="sprite_creation_rate_limited", retry_after_header=4
        ),
        ProviderUnavailable,
        True,
        4.0,
    ),
    (sx.APIError("x", status_code=502), ProviderUnavailable, True, None),
    (sx.APIError("x", status_code=400), ProviderError, False, None),
    (sx.AuthenticationError("Authentication failed"), ProviderUnavailable, False, None),
    (_rest(401, "unauthorized"), ProviderUnavailable, False, None),
    (sx.NetworkError("connection refused"), ProviderUnavailable, True, None),
    (sx.TimeoutError("timed out"), ProviderUnavailable, True, None),
]


@pytest.mark.parametrize(("raised", "kind", "retryable", "retry_after"), CASES)
def test_each_vendor_error_maps_to_one_class_and_flag(
    raised: BaseException, kind: type[ProviderError], retryable: bool, retry_after: float | None
) -> None:
    error = from_sdk(raised, where="create", instance_id="cr-ses-1")

    assert type(error) is kind
    assert error.retryable is retryable
    assert error.retry_after_s == retry_after
    assert error.provider == "fly_sprites"
    assert "\n" not in str(error)


def test_not_found_names_the_instance() -> None:
    for raised in (sx.NotFoundError("Resource not found"), sx.APIError("x", status_code=404)):
        error = from_sdk(raised, where="get", instance_id="cr-ses-9")
        assert isinstance(error, InstanceNotFound)
        assert error.instance_id == "cr-ses-9"


def test_translate_raises_from_the_original() -> None:
    original = _rest(429, {"error": "concurrent_sprite_limit_exceeded"})
    with pytest.raises(ProviderUnavailable) as caught, translate("create", "cr-x"):
        raise original
    assert caught.value.__cause__ is original
    assert "concurrent sprite limit" in str(caught.value)
