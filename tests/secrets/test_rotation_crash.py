"""A KEK rotation killed for real mid-transaction: every secret stays readable under the
keyring of the rotation, running it again finishes, and the old KEK can then retire."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from computerouter.domain.secrets import owner_for
from computerouter.secrets import LocalKeyring, SecretVault
from computerouter.secrets.keyring import write_key_file
from computerouter.store import Store
from computerouter.store.secrets import SecretStore
from computerouter.testing.environment import child_env

WORKER = Path(__file__).with_name("rotation_crash_worker.py")
OLD = ("kek-old", os.urandom(32))
NEW = ("kek-new", os.urandom(32))


def test_a_killed_rotation_loses_nothing_and_resumes(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    values = {f"user{i}": f"credential-{i}-{os.urandom(4).hex()}" for i in range(6)}
    old_vault = SecretVault(SecretStore(store.engine), LocalKeyring([OLD]))
    for user, value in values.items():
        old_vault.set(owner_for(user), "provider_token", value)
    key_file = tmp_path / "secrets.kek"
    write_key_file(key_file, [NEW, OLD])

    env = child_env()
    died = subprocess.run(
        [sys.executable, str(WORKER), database_url, str(key_file), "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert died.returncode == -9, died.stdout + died.stderr
    assert "dying before its commit" in died.stdout

    during = SecretVault(SecretStore(store.engine), LocalKeyring([NEW, OLD]))
    assert during.usage() == {"kek-new": 3, "kek-old": 3}
    for user, value in values.items():
        assert during.get(owner_for(user), "provider_token").reveal() == value

    report = during.rotate_kek()
    assert (report.rewrapped, report.already_current) == (3, 3)
    retired = SecretVault(SecretStore(store.engine), LocalKeyring([NEW]))
    for user, value in values.items():
        assert retired.get(owner_for(user), "provider_token").reveal() == value
