"""``computerouter --version``: the installed package's version, on one line."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cli_support import cli

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_prints_the_package_version_on_one_line(tmp_path: Path) -> None:
    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    result = cli(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"computerouter {expected}\n"
    assert result.stderr == ""
    assert not (tmp_path / "computerouter.db").exists()  # touches nothing
