"""The model endpoint's API key can live in the secret store instead of the settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.secrets import OPERATOR
from computerouter.errors import SecretUnreadable
from computerouter.runtimes.hermes import HermesRuntime
from computerouter.secrets import LocalKeyring, SecretVault
from computerouter.secrets.keyring import write_key_file
from computerouter.store import open_store
from computerouter.store.secrets import SecretStore

STORED = "sk-stored-model-key-93a1c"


def model_key_of(settings: Settings) -> str:
    router = open_router(settings)
    try:
        hermes = router.runtimes["hermes"]
        assert isinstance(hermes, HermesRuntime)
        return hermes.model.api_key
    finally:
        router.store.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    keys = [("kek-a", os.urandom(32))]
    write_key_file(tmp_path / "secrets.kek", keys)
    store = open_store(f"sqlite:///{tmp_path / 'computerouter.db'}")
    SecretVault(SecretStore(store.engine), LocalKeyring(keys)).set(
        OPERATOR, "model_api_key", STORED
    )
    store.close()
    return tmp_path


def test_the_stored_model_key_is_used_when_the_setting_is_empty(home: Path) -> None:
    settings = Settings.load(env={}, home=home, billing=False)
    assert model_key_of(settings) == STORED
    assert STORED not in repr(settings)


def test_an_explicit_setting_wins_over_the_store(home: Path) -> None:
    assert model_key_of(Settings.load(env={}, home=home, billing=False, model_api_key="k")) == "k"


def test_a_wrong_kek_for_the_stored_key_is_one_clear_line(home: Path) -> None:
    write_key_file(home / "secrets.kek", [("kek-a", os.urandom(32))])
    with pytest.raises(SecretUnreadable, match="'kek-a'"):
        model_key_of(Settings.load(env={}, home=home, billing=False))


def test_no_stored_key_and_no_keyring_is_fine(tmp_path: Path) -> None:
    assert model_key_of(Settings.load(env={}, home=tmp_path, billing=False)) == ""
