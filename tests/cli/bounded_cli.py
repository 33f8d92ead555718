"""Running the real command line as a subprocess, with its peak memory measured.

The CLI is started by a small Python process that waits for it and reads its
``RUSAGE_CHILDREN`` peak RSS: measured from a parent that small, the figure is the CLI's own
(a child forked from the big test process would inherit that process's size in its
``ru_maxrss``). The CLI also runs under a 1 GiB address-space limit, so a build that reads an
endless file whole fails fast instead of eating the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from computerouter.testing.environment import child_env

_RUNNER = r"""
import json, resource, subprocess, sys
limit = 1 << 30
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
stdin = open(sys.argv[1], "rb") if sys.argv[1] else subprocess.DEVNULL
with open(sys.argv[2], "wb") as out, open(sys.argv[3], "wb") as err:
    code = subprocess.call(sys.argv[4:], stdin=stdin, stdout=out, stderr=err, preexec_fn=cap)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "peak_kib": peak_kib}))
"""


@dataclass(frozen=True, kw_only=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def measured_cli(
    home: Path, *args: str, stdin: Path | None = None, env: dict[str, str] | None = None
) -> Measured:
    with tempfile.TemporaryDirectory(prefix="cli-output-") as scratch:
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        runner = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUNNER,
                "" if stdin is None else str(stdin),
                str(out),
                str(err),
                sys.executable,
                "-m",
                "computerouter",
                *args,
            ],
            capture_output=True,
            text=True,
            env=env or cli_env(home),
            timeout=120,
            check=True,
        )
        report = json.loads(runner.stdout)
        return Measured(
            returncode=report["code"],
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
            peak_mb=report["peak_kib"] / 1024,
        )


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@dataclass(frozen=True, kw_only=True)
class InProcess:
    returncode: int
    stdout: str
    stderr: str


def inprocess_cli(
    home: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> InProcess:
    """The command line run in this process (fast; for many cases), as ``main`` runs it."""
    from typer.testing import CliRunner

    from computerouter.cli import run_cli

    overrides: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("COMPUTEROUTER_")
    }
    overrides |= {"COMPUTEROUTER_HOME": str(home), "COLUMNS": "200"}
    overrides |= env or {}
    with CliRunner().isolation(input=stdin, env=overrides) as (out, err, _):
        code = run_cli(list(args))
        return InProcess(
            returncode=code,
            stdout=out.getvalue().decode(errors="replace"),
            stderr=err.getvalue().decode(errors="replace"),
        )


def agent_pinned_elsewhere(home: Path, address: str, provider: str = "daytona") -> None:
    """An agent pinned to a provider that is registered but not configured here: a run that
    gets past the input checks fails with exit 1 naming the provider, and never reaches
    compute."""
    from computerouter.agents.factory import agent_router_for
    from computerouter.compute.factory import open_router
    from computerouter.config import Settings
    from computerouter.domain.agents import AgentAddress, ModelSettings

    home.mkdir(parents=True, exist_ok=True)
    router = open_router(Settings.load(env={}, home=home, lifecycle_daemon=False))
    try:
        agent_router_for(router).create_agent(
            user_id="local",
            address=AgentAddress.parse(address),
            settings=ModelSettings(compute_provider=provider),
            prompt="You are support.",
        )
    finally:
        router.store.close()
