"""The LiteLLM proxy (its own virtualenv, ``scripts/litellm-venv``) in front of one
OpenAI-compatible upstream, as a user would run it: a one-model config, one worker, no
database, no callbacks, the model cost map read locally (no network at start), and a master
key (LiteLLM refuses to start without one; the router checks a key on every request too)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _shared import free_port, running, wait_up

MODEL = "hermes"
"""The model name clients ask LiteLLM for."""


@contextmanager
def litellm_proxy(
    executable: Path, *, upstream: str, api_key: str, headers: dict[str, str], workdir: Path
) -> Iterator[tuple[str, str]]:
    """The proxy's base URL and its key while the block runs; ``upstream`` is the ``…/v1``
    it fronts."""
    master_key = f"sk-bench-{secrets.token_hex(16)}"
    params: dict[str, object] = {
        "model": "openai/hermes-agent",
        "api_base": upstream,
        "api_key": api_key,
        "extra_headers": headers,
    }
    config = {
        "model_list": [{"model_name": MODEL, "litellm_params": params}],
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
