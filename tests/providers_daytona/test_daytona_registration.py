"""The daytona registration: its settings from config and the vendor's variables, and one line
saying what to set when it is not configured."""

from __future__ import annotations

from pathlib import Path

from computerouter.config import Settings
from computerouter.providers.daytona.registration import REGISTRATION, DaytonaSettings
from computerouter.providers.registration import registration
from computerouter.providers.settings import provider_settings, setting_rows


def test_it_is_a_builtin_provider() -> None:
    assert registration("daytona") is REGISTRATION


def test_unconfigured_says_what_to_set_in_one_line(tmp_path: Path) -> None:
    own = provider_settings(REGISTRATION, Settings.load(env={}, home=tmp_path))
    assert isinstance(own, DaytonaSettings)
    message = REGISTRATION.configured(own)
    assert "DAYTONA_API_KEY" in message
    assert "\n" not in message


def test_vendor_variables_configure_it_and_the_key_is_never_shown(tmp_path: Path) -> None:
    env = {
        "DAYTONA_API_KEY": "dtn_secret",
        "DAYTONA_API_URL": "http://127.0.0.1:1/api",
        "DAYTONA_TARGET": "eu",
    }
    own = provider_settings(REGISTRATION, Settings.load(env=env, home=tmp_path))

    assert (own.api_key, own.api_url, own.target) == ("dtn_secret", "http://127.0.0.1:1/api", "eu")
    assert REGISTRATION.configured(own) == ""
    shown = setting_rows(REGISTRATION, own)
    assert "dtn_secret" not in repr(shown)
    assert ("daytona.api_key", "set", "COMPUTEROUTER_DAYTONA_API_KEY | DAYTONA_API_KEY") in shown
