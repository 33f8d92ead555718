"""The host side of a relay's control channel: push a turn's configuration, read a run's meter.

The channel is an abstract unix socket in the host's network namespace (a session, in its own,
cannot reach it; the relay also checks the caller's uid), named from the relay's socket path.
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

from computerouter.domain.egress import EgressFailure, EgressMeter, EgressTurn
from computerouter.errors import ProviderError

__all__ = ["control_name", "meter", "meter_from", "push_turn", "turn_message"]

_TIMEOUT_S = 5.0


def control_name(relay_socket: Path) -> str:
    """The abstract socket name of the relay listening on ``relay_socket``."""
    digest = hashlib.sha256(str(relay_socket).encode()).hexdigest()[:32]
    return f"computerouter-egress-{digest}"


def _ask(name: str, message: dict[str, Any], *, provider: str) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(_TIMEOUT_S)
            sock.connect("\0" + name)
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise ProviderError(
            f"the session's egress relay did not answer on its control channel: {exc}",
            provider=provider,
        ) from exc
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise ProviderError("the egress relay gave no answer", provider=provider) from exc
    if not isinstance(answer, dict) or "error" in answer:
        raise ProviderError(f"the egress relay refused: {answer}", provider=provider)
    return answer


def turn_message(turn: EgressTurn) -> dict[str, Any]:
    """The control message that tells a relay (or the remote gateway) ``turn``."""
    message: dict[str, Any] = {
        "op": "turn",
        "upstream": turn.upstream,
        "headers": [list(h) for h in turn.headers],
        "model": turn.model,
        "budget": None if turn.budget is None else turn.budget.as_json(),
    }
    if turn.active is not None:
        message["active"] = list(turn.active)
    if turn.allow is not None:
        message["allow"] = [rule.as_json() for rule in turn.allow]
    if turn.labels:
        message["labels"] = dict(turn.labels)
    return message


def push_turn(name: str, turn: EgressTurn, *, provider: str) -> None:
    _ask(name, turn_message(turn), provider=provider)


def meter(name: str, run_id: str, *, end: bool, provider: str) -> EgressMeter:
    raw = _ask(name, {"op": "end" if end else "meter", "run_id": run_id}, provider=provider)
    return meter_from(run_id, raw)


def meter_from(run_id: str, raw: dict[str, Any]) -> EgressMeter:
    """A relay's answer to ``meter``/``end``, as an :class:`EgressMeter`."""
    error = raw.get("last_error")
    return EgressMeter(
        run_id=run_id,
        spent=int(raw.get("spent", 0)),
        calls=int(raw.get("calls", 0)),
        refused=int(raw.get("refused", 0)),
        input_tokens=int(raw.get("input_tokens", 0)),
        output_tokens=int(raw.get("output_tokens", 0)),
        upstream=str(raw.get("upstream", "")),
        last_error=(
            EgressFailure(url=str(error.get("url", "")), message=str(error.get("message", "")))
            if isinstance(error, dict)
            else None
        ),
    )
