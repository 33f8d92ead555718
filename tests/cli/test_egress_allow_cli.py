"""An agent's own egress gateway rules on the command line (``agent create/update
--egress-allow``): stored, shown, kept by other changes, cleared by ''; a bad rule is refused
with one line and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounded_cli import cli_env, inprocess_cli, measured_cli, one_error_line

from computerouter.domain.agents import AgentAddress
from computerouter.store import open_store
from computerouter.store.agents import AgentStore


@pytest.fixture
def prompt(tmp_path: Path) -> Path:
    path = tmp_path / "prompt.md"
    path.write_text("You are a test agent.\n")
    return path


def agent_rules(home: Path) -> str | None:
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    try:
        agent = AgentStore(store.engine).get("local", AgentAddress(sandbox_id="sb", slug="a"))
        return agent.settings.egress_allow
    finally:
        store.close()


def test_an_agents_rules_are_stored_shown_kept_and_cleared(tmp_path: Path, prompt: Path) -> None:
    rules = "pypi.org:443, *.pythonhosted.org:443"
    created = inprocess_cli(tmp_path, "agent", "create", "sb/a", "--prompt-file", str(prompt),
                            "--egress-allow", rules, "--json")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert '"egress_allow": "pypi.org:443, *.pythonhosted.org:443"' in created.stdout
    kept = inprocess_cli(tmp_path, "agent", "update", "sb/a", "--compute-region", "eu")
    assert kept.returncode == 0, kept.stderr
    assert "egress pypi.org:443, *.pythonhosted.org:443" in kept.stdout
    cleared = inprocess_cli(tmp_path, "agent", "update", "sb/a", "--egress-allow", "")
    assert cleared.returncode == 0, cleared.stderr
    assert agent_rules(tmp_path) is None


@pytest.mark.parametrize("value", ["pypi.org", "pypi.org:0", "pypi.org:https", "bad host!:80"])
def test_a_bad_rule_is_refused_and_changes_nothing(
    tmp_path: Path, prompt: Path, value: str
) -> None:
    created = inprocess_cli(tmp_path, "agent", "create", "sb/a", "--prompt-file", str(prompt),
                            "--egress-allow", "pypi.org:443")  # fmt: skip
    assert created.returncode == 0, created.stderr
    result = inprocess_cli(tmp_path, "agent", "update", "sb/a", "--egress-allow", value)
    assert result.returncode == 2, result.stderr
    assert "egress rule" in one_error_line(result.stderr)
    assert agent_rules(tmp_path) == "pypi.org:443"


@pytest.mark.parametrize("value", ["10.0.0.1", "example.com:99999", "[::1:80"])
def test_a_bad_operator_allowlist_is_one_line(tmp_path: Path, value: str) -> None:
    result = measured_cli(
        tmp_path,
        "credits",
        "show",
        "--user",
        "alice",
        env=cli_env(tmp_path, COMPUTEROUTER_EGRESS_ALLOW=value),
    )
    assert result.returncode == 2, result.stderr[-1500:]
    assert "setting egress_allow: egress rule" in one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()
