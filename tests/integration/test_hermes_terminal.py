"""The real command line over real Hermes: input from a file and from stdin, and model text
that carries escape sequences reaches the terminal escaped (and ``--json`` verbatim)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hermes_world import IMAGES

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.providers.local import probe
from computerouter.standin import StandinModel
from computerouter.testing.environment import child_env

ESCAPES = "\x1b[31mred\x1b[0m and \x1b[2Jgone\x07"


def test_escape_sequences_in_model_text_are_shown_not_obeyed(tmp_path: Path) -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    with StandinModel() as model:
        env = child_env()
        env |= {
            "COMPUTEROUTER_HOME": str(tmp_path),
            "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
            "COMPUTEROUTER_MODEL_BASE_URL": model.base_url,
        }

        def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "computerouter", *args],
                input=stdin,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

        prompt = tmp_path / "prompt.md"
        prompt.write_text("You are a test agent.")
        assert cli("agent", "create", "sb/echo", "--prompt-file", str(prompt)).returncode == 0
        assert cli("credits", "grant", "--user", "local", "10").returncode == 0
        try:
            told = tmp_path / "input.txt"
            told.write_text(f"Remember that the code is {ESCAPES}")
            first = cli("run", "sb/echo", "--input-file", str(told))
            assert first.returncode == 0, first.stderr[-2000:]
            asked = cli("run", "sb/echo", "--input-file", "-", stdin="What do you remember?")
            assert asked.returncode == 0, asked.stderr[-2000:]
            assert "\x1b" not in asked.stdout
            assert "\x07" not in asked.stdout
            assert "\\x1b[31mred\\x1b[0m and \\x1b[2Jgone\\x07" in asked.stdout, asked.stdout
            as_json = cli("run", "sb/echo", "What do you remember?", "--json")
            assert as_json.returncode == 0, as_json.stderr[-2000:]
            text = "".join(
                event["delta"]
                for event in map(json.loads, as_json.stdout.splitlines())
                if event["type"] == "message.delta"
            )
            assert ESCAPES in text
        finally:
            router = open_router(Settings.load(env={}, home=tmp_path, images_dir=str(IMAGES)))
            try:
                for session in router.store.sessions.list():
                    if session.state.value not in ("destroyed", "failed"):
                        router.destroy(session.id)
            finally:
                router.store.close()
