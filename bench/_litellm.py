"""The LiteLLM proxy (its own virtualenv, ``scripts/litellm-venv``) in front of OpenAI-compatible
upstreams, as a user would run it: one model per upstream, one worker, no database, no
callbacks, the model cost map read locally (no network at start), and a master key (LiteLLM
refuses to start without one; the router checks a key on every request too)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _shared import free_port, running, wait_up

MODEL = "hermes"
"""The model name clients ask LiteLLM for to reach Hermes."""
ECHO_MODEL = "echo"
"""The model name clients ask LiteLLM for to reach the echo test runtime."""


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """One model of the proxy: the name clients ask for, and the ``…/v1`` it fronts."""

    model: str
    upstream: str
    upstream_model: str
    api_key: str
    headers: dict[str, str] = field(default_factory=dict)


@contextmanager
def litellm_proxy(
    executable: Path, *, upstreams: Sequence[Upstream], workdir: Path
) -> Iterator[tuple[str, str]]:
    """The proxy's base URL and its key while the block runs."""
    master_key = f"sk-bench-{secrets.token_hex(16)}"
    models = [
        {
            "model_name": u.model,
            "litellm_params": {
                "model": f"openai/{u.upstream_model}",
                "api_base": u.upstream,
                "api_key": u.api_key,
                "extra_headers": u.headers,
            },
        }
        for u in upstreams
    ]
    config = {
        "model_list": models,
        "litellm_settings": {"telemetry": False, "drop_params": True},
        "general_settings": {"master_key": master_key},
    }
    path = workdir / "litellm.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
    }
    argv = [str(executable), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    log = workdir / "litellm.log"
    url = f"http://127.0.0.1:{port}"
    with running(argv, env=env, log=log) as process:
        wait_up(f"{url}/health/liveliness", process, log, timeout_s=180)
        yield url, master_key
