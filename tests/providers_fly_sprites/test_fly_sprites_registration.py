"""The fly_sprites registration: settings from the file and variables, one line when unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from computerouter.config import Settings
from computerouter.errors import ConfigError, ProviderUnavailable
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.providers.registration import registration
from computerouter.providers.registry import build_provider, not_configured
from computerouter.providers.settings import provider_settings, setting_rows


def _settings(tmp_path: Path, env: dict[str, str], toml: str = "") -> Settings:
    if toml:
        (tmp_path / "config.toml").write_text(toml)
    return Settings.load(env=env, home=tmp_path)


def test_without_a_token_it_says_what_to_set(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {})
    assert not_configured("fly_sprites", settings) == (
        "set providers.fly_sprites.token or SPRITES_TOKEN"
    )
    with pytest.raises(ProviderUnavailable, match=r"not configured: set providers\.fly_sprites"):
        build_provider("fly_sprites", settings)


def test_the_vendor_variable_and_the_file_configure_it(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        {"SPRITES_TOKEN": "tok-1"},
        '[providers.fly_sprites]\nbase_url = "http://127.0.0.1:3987"\nregion = "lhr"\n',
    )
    record = registration("fly_sprites")
    own = provider_settings(record, settings)
    assert (own.token, own.base_url, own.region, own.url_auth) == (
        "tok-1",
        "http://127.0.0.1:3987",
        "lhr",
        "public",
    )
    assert not_configured("fly_sprites", settings) == ""
    assert isinstance(build_provider("fly_sprites", settings), FlySpritesProvider)
    shown = {name: value for name, value, _ in setting_rows(record, own)}
    assert shown["fly_sprites.token"] == "set"


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('[providers.fly_sprites]\nregion = "mars"\n', "unknown region 'mars'"),
        ('[providers.fly_sprites]\nurl_auth = "open"\n', "url_auth must be"),
        ('[providers.fly_sprites]\nbase_url = "ftp://x"\n', "must be an http(s) URL"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, toml: str, said: str) -> None:
    settings = _settings(tmp_path, {"SPRITES_TOKEN": "t"}, toml)
    with pytest.raises(ConfigError) as caught:
        provider_settings(registration("fly_sprites"), settings)
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)
