"""The documented limits: what they refuse, and that a turn at the limits fits Hermes."""

from __future__ import annotations

import json

import httpx
import pytest

from computerouter.domain.limits import (
    INPUT_MAX_BYTES,
    PROMPT_MAX_BYTES,
    RUNTIME_REQUEST_MAX_BYTES,
    check_duration,
    check_region,
    check_text,
    decode_text,
)
from computerouter.errors import InputError


@pytest.mark.parametrize("worst", ["\x01", "\u2028", "\U0001f600"])
def test_a_turn_at_the_limits_fits_the_runtimes_request_limit(worst: str) -> None:
    """JSON escaping grows text up to six times; at the limits a turn's body still fits."""
    per_char = len(worst.encode())
    body = {
        "input": worst * (INPUT_MAX_BYTES // per_char),
        "instructions": worst * (PROMPT_MAX_BYTES // per_char),
    }
    sent = httpx.Request("POST", "http://h/v1/runs", json=body).read()
    assert json.loads(sent) == body
    assert len(sent) < RUNTIME_REQUEST_MAX_BYTES


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * 11, "larger than the limit of 10 bytes"),
        (b"caf\xe9", "is not UTF-8 text (byte 3 is 0xe9)"),
        (b"a\x00b", "holds NUL bytes"),
    ],
)
def test_decode_text_refuses(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_text(data, what="it", limit=10)


def test_text_limits_count_bytes_not_characters() -> None:
    assert check_text("é" * 5, what="it", limit=10) == "é" * 5
    with pytest.raises(InputError, match="larger than"):
        check_text("é" * 6, what="it", limit=10)
    with pytest.raises(InputError, match="not UTF-8"):
        check_text("\udcff", what="it", limit=10)


@pytest.mark.parametrize("region", ["", "EU", "eu\n", "-eu", "e" * 65, "eu west"])
def test_bad_regions(region: str) -> None:
    with pytest.raises(InputError, match="region"):
        check_region(region)


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf"), 4000 * 86400.0])
def test_bad_durations(seconds: float) -> None:
    with pytest.raises(InputError):
        check_duration(seconds, what="it")
    assert check_duration(0.0, what="it") == 0.0
    with pytest.raises(InputError):
        check_duration(0.0, what="it", positive=True)
