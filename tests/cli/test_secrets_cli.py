"""``computerouter secrets``: values go in through stdin or a file and never come out (no
command prints one, no file in the home holds one in the clear); KEK rotation keeps every
secret readable and lets the old KEK retire; bad input is one line and changes nothing."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from computerouter.domain.secrets import OPERATOR, owner_for
from computerouter.secrets import LocalKeyring, SecretVault
from computerouter.store import open_store
from computerouter.store.secrets import SecretStore
from computerouter.testing.environment import child_env

MODEL_KEY = "sk-model-5f0c9a1e7b2d4c68-unique"
MCP_TOKEN = "mcp-token-8d3e71f0aa42-unique"
ALICE_KEY = "alice-provider-cred-2b9f4e-unique"
VALUES = (MODEL_KEY, MCP_TOKEN, ALICE_KEY)


def cli(
    home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = child_env()
    environ["COMPUTEROUTER_HOME"] = str(home)
    environ["COMPUTEROUTER_LIFECYCLE_DAEMON"] = "false"
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "computerouter", "secrets", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    for value in VALUES:
        assert value not in result.stdout + result.stderr
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for value in VALUES:
        assert value not in result.stdout + result.stderr
    return lines[0]


def vault_of(home: Path, kek: str = "") -> SecretVault:
    keys = LocalKeyring.load(value=kek, key_file=home / "secrets.kek")
    return SecretVault(
        SecretStore(open_store(f"sqlite:///{home / 'computerouter.db'}").engine), keys
    )


def files_holding(home: Path, value: str) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]


def kek_ids(home: Path) -> list[str]:
    return [
        line.split(":")[0]
        for line in (home / "secrets.kek").read_text().splitlines()
        if line and not line.startswith("#")
    ]


def test_set_list_rotate_retire_and_no_value_ever_shows(tmp_path: Path) -> None:
    home = tmp_path
    ok(cli(home, "new-kek", "--id", "kek-one"))
    assert (home / "secrets.kek").stat().st_mode & 0o777 == 0o600
    ok(cli(home, "set", "model_api_key", stdin=MODEL_KEY + "\n"))
    token_file = tmp_path / "token.txt"
    token_file.write_text(MCP_TOKEN)
    ok(cli(home, "set", "mcp_token", "--from-file", str(token_file)))
    token_file.unlink()
    ok(cli(home, "set", "daytona_api_key", "--user", "alice", stdin=ALICE_KEY))

    listed = json.loads(ok(cli(home, "list", "--json")))
    assert [(s["owner"], s["name"], s["kek_id"]) for s in listed] == [
        ("operator", "mcp_token", "kek-one"),
        ("operator", "model_api_key", "kek-one"),
        ("user:alice", "daytona_api_key", "kek-one"),
    ]
    assert "model_api_key" in ok(cli(home, "list"))
    assert [s["name"] for s in json.loads(ok(cli(home, "list", "--user", "alice", "--json")))] == [
        "daytona_api_key"
    ]

    ok(cli(home, "new-kek", "--id", "kek-two"))
    assert kek_ids(home) == ["kek-two", "kek-one"]
    assert vault_of(home).get(OPERATOR, "model_api_key").reveal() == MODEL_KEY  # mid-rotation
    one_error_line(cli(home, "retire-kek", "kek-one"))  # still wraps three secrets
    assert "3 secret(s) under kek-two" in ok(cli(home, "rotate-kek")).replace("re-wrapped ", "")
    assert "0 secret(s)" in ok(cli(home, "rotate-kek"))  # idempotent
    ok(cli(home, "retire-kek", "kek-one"))
    assert kek_ids(home) == ["kek-two"]

    vault = vault_of(home)
    assert vault.get(OPERATOR, "model_api_key").reveal() == MODEL_KEY
    assert vault.get(OPERATOR, "mcp_token").reveal() == MCP_TOKEN
    assert vault.get(owner_for("alice"), "daytona_api_key").reveal() == ALICE_KEY
    for value in VALUES:
        assert files_holding(home, value) == []

    ok(cli(home, "delete", "mcp_token"))
    assert vault.find(OPERATOR, "mcp_token") is None


def test_keks_from_the_environment_a_wrong_or_missing_one_is_one_line(tmp_path: Path) -> None:
    first = f"k1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
    ok(
        cli(
            tmp_path,
            "set",
            "model_api_key",
            stdin=MODEL_KEY,
            env={"COMPUTEROUTER_SECRETS_KEK": first},
        )
    )
    impostor = f"k1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
    line = one_error_line(cli(tmp_path, "rotate-kek", env={"COMPUTEROUTER_SECRETS_KEK": impostor}))
    assert "'k1'" in line
    other = f"k2:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
    line = one_error_line(cli(tmp_path, "rotate-kek", env={"COMPUTEROUTER_SECRETS_KEK": other}))
    assert "'k1'" in line
    assert "not configured" in line
    line = one_error_line(cli(tmp_path, "new-kek", env={"COMPUTEROUTER_SECRETS_KEK": other}))
    assert "COMPUTEROUTER_SECRETS_KEK" in line
    assert vault_of(tmp_path, first).get(OPERATOR, "model_api_key").reveal() == MODEL_KEY


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (("set", "model_api_key", MODEL_KEY), "", "no value argument"),
        (("set", "bad name"), MODEL_KEY, "secret name"),
        (("set", "ok_name", "--user", "bad user"), MODEL_KEY, "user id"),
        (("set", "ok_name"), "", "empty"),
        (("set", "ok_name"), "\n", "empty"),
        (("set", "ok_name", "--from-file", "/nonexistent/value"), "", "does not exist"),
        (("set", "ok_name"), "x" * (70 * 1024), "larger than"),
        (("delete", "nothing_here"), "", "no secret"),
        (("retire-kek", "kek-one"), "", "current"),
        (("retire-kek", "kek-nope"), "", "no key-encryption key"),
        (("new-kek", "--id", "kek-one"), "", "already exists"),
        (("new-kek", "--id", "bad id"), "", "not valid"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...], stdin: str, expected: str
) -> None:
    ok(cli(tmp_path, "new-kek", "--id", "kek-one"))
    ok(cli(tmp_path, "set", "kept", stdin=MCP_TOKEN))
    before = (tmp_path / "secrets.kek").read_bytes(), vault_of(tmp_path).list()
    assert expected in one_error_line(cli(tmp_path, *args, stdin=stdin))
    assert ((tmp_path / "secrets.kek").read_bytes(), vault_of(tmp_path).list()) == before


def test_without_a_kek_set_says_how_to_make_one(tmp_path: Path) -> None:
    line = one_error_line(cli(tmp_path, "set", "model_api_key", stdin=MODEL_KEY))
    assert "no key-encryption key is configured" in line
    assert "new-kek" in line


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    ok(cli(tmp_path, "new-kek"))
    (tmp_path / "secrets.kek").chmod(0o644)
    line = one_error_line(cli(tmp_path, "set", "model_api_key", stdin=MODEL_KEY))
    assert "chmod 600" in line
    malformed = tmp_path / "other.kek"
    malformed.write_text("k1:not-base64-of-32-bytes\n")
    malformed.chmod(0o600)
    line = one_error_line(
        cli(
            tmp_path,
            "list",
            env={"COMPUTEROUTER_SECRETS_KEK_FILE": str(malformed)},
        )
    )
    assert "'k1'" in line
    assert "not-base64" not in line


def test_doctor_shows_a_pending_rotation_and_a_missing_kek(tmp_path: Path) -> None:
    def doctor_row(env: dict[str, str] | None = None) -> str:
        environ = child_env()
        environ |= {"COMPUTEROUTER_HOME": str(tmp_path), **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "computerouter", "doctor"],
            capture_output=True,
            text=True,
            env=environ | {"COLUMNS": "300"},
            timeout=120,
            check=False,
        )
        rows = [line for line in result.stdout.splitlines() if "│ secrets" in line]
        assert len(rows) == 1, result.stdout + result.stderr
        return " ".join(rows[0].split())

    ok(cli(tmp_path, "new-kek", "--id", "kek-one"))
    ok(cli(tmp_path, "set", "model_api_key", stdin=MODEL_KEY))
    assert "1 stored, all under the current key 'kek-one'" in doctor_row()
    ok(cli(tmp_path, "new-kek", "--id", "kek-two"))
    assert "1 not yet under the current key 'kek-two'" in doctor_row()
    other = f"k9:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
    row = doctor_row({"COMPUTEROUTER_SECRETS_KEK": other})
    assert "'kek-one'" in row
    assert "not configured" in row


def test_a_fresh_home_with_keks_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "not-yet"
    kek = {"COMPUTEROUTER_SECRETS_KEK": f"k1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"}
    ok(cli(home, "set", "model_api_key", stdin=MODEL_KEY, env=kek))
    assert (
        vault_of(home, kek["COMPUTEROUTER_SECRETS_KEK"]).get(OPERATOR, "model_api_key").reveal()
        == MODEL_KEY
    )
