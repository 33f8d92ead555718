"""A provider is one module plus one registration: a toy registered from this test is routed
to, configured, priced and shown by doctor without any change elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from computerouter.cli.app import app
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import ConfigError, InputError, ProviderUnavailable
from computerouter.ledger.prices import default_prices
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import (
    DoctorRow,
    ListPrice,
    ProviderRegistration,
    register,
    registration,
    unregister,
)
from computerouter.providers.registry import build_providers
from computerouter.providers.settings import provider_settings, setting_rows
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

# -- the toy provider: everything it is, in one place -------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ToySettings:
    token: str = field(default="", metadata={"env": ("TOYCLOUD_TOKEN",), "secret": True})
    cpus: int = 4


BUILT: list[ToySettings] = []


def _build(settings: Settings, own: ToySettings) -> FakeProvider:
    BUILT.append(own)
    return FakeProvider("toy")


TOY = ProviderRegistration(
    name="toy",
    summary="a toy cloud",
    settings_model=ToySettings,
    build=_build,
    configured=lambda own: "" if own.token else "set COMPUTEROUTER_TOY_TOKEN or TOYCLOUD_TOKEN",
    capabilities=Capabilities(suspend=True, archive=True, exec=False, regions=("eu",)),
    list_price=ListPrice(cpu_hour=7, memory_gib_hour=3),
    doctor=lambda settings, own: [DoctorRow(check="toy api", status="ok", detail="reachable")],
)


@pytest.fixture
def toy() -> Iterator[ProviderRegistration]:
    register(TOY)
    BUILT.clear()
    yield TOY
    unregister(TOY.name)


# -- tests ----------------------------------------------------------------------------------


def test_a_registered_provider_is_offered_once_configured(
    toy: ProviderRegistration, tmp_path: Path, store: Store
) -> None:
    bare = Settings.load(env={}, home=tmp_path)
    assert "toy" not in build_providers(bare)
    assert "local" in build_providers(bare)
    configured = Settings.load(env={"TOYCLOUD_TOKEN": "t0k"}, home=tmp_path)
    providers = build_providers(configured)
    assert list(providers) == ["local", "toy"]
    router = ComputeRouter(
        store=store,
        providers=providers,
        runtimes={"fake": FakeRuntime()},
        settings=Settings.load(
            env={"TOYCLOUD_TOKEN": "t0k"}, home=tmp_path, default_runtime="fake"
        ),
        clock=FakeClock(),
    )
    session = router.ensure_session(SessionKey(user_id="u", sandbox_id="s"), provider="toy")
    assert session.state is SessionState.RUNNING
    assert session.provider == "toy"
    assert [ToySettings(token="t0k", cpus=4)] == BUILT


def test_own_settings_come_from_file_then_env(toy: ProviderRegistration, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[providers.toy]\ntoken = "from-file"\ncpus = 2\n')
    from_file = provider_settings(TOY, Settings.load(env={}, home=tmp_path))
    assert from_file == ToySettings(token="from-file", cpus=2)
    env = {
        "COMPUTEROUTER_TOY_TOKEN": "ours",
        "TOYCLOUD_TOKEN": "vendor",
        "COMPUTEROUTER_TOY_CPUS": "8",
    }
    from_env = provider_settings(TOY, Settings.load(env=env, home=tmp_path))
    assert from_env == ToySettings(token="ours", cpus=8)
    rows = setting_rows(TOY, from_env)
    assert ("toy.token", "set", "COMPUTEROUTER_TOY_TOKEN | TOYCLOUD_TOKEN") in rows
    assert all("ours" not in row[1] for row in rows)


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ("[providers.toy]\ntokn = 1\n", {}, "unknown setting 'tokn' in \\[providers.toy\\]"),
        ("", {"COMPUTEROUTER_TOY_CPUS": "many"}, "toy.cpus from COMPUTEROUTER_TOY_CPUS"),
        ("providers = 3\n", {}, "must be tables"),
    ],
)
def test_bad_provider_settings_are_one_line(
    toy: ProviderRegistration, tmp_path: Path, config: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / "config.toml").write_text(config)
    with pytest.raises(ConfigError, match=message):
        provider_settings(TOY, Settings.load(env=env, home=tmp_path))


def test_pinned_but_not_configured_says_what_to_set(
    toy: ProviderRegistration, tmp_path: Path
) -> None:
    from computerouter.providers.registry import build_provider

    with pytest.raises(ProviderUnavailable, match="toy: not configured: set COMPUTEROUTER_TOY"):
        build_provider("toy", Settings.load(env={}, home=tmp_path))


def test_its_list_price_and_doctor_rows_need_no_other_change(
    toy: ProviderRegistration, tmp_path: Path
) -> None:
    price = default_prices().compute_price("toy")
    assert (price.cpu_hour, price.memory_gib_hour) == (7, 3)
    result = CliRunner().invoke(
        app, ["doctor"], env={"COMPUTEROUTER_HOME": str(tmp_path), "TOYCLOUD_TOKEN": "x"}
    )
    assert "toy api" in result.output
    unconfigured = CliRunner().invoke(app, ["doctor"], env={"COMPUTEROUTER_HOME": str(tmp_path)})
    assert "provider toy" in unconfigured.output
    assert "not configured" in unconfigured.output


def test_unknown_and_duplicate_names(toy: ProviderRegistration) -> None:
    with pytest.raises(InputError, match=r"unknown compute provider 'nope' \(known: local, .*toy"):
        registration("nope")
    with pytest.raises(ValueError, match="already registered"):
        register(ProviderRegistration(**{**_fields(TOY), "summary": "another toy"}))
    with pytest.raises(ValueError, match="must match"):
        ProviderRegistration(**{**_fields(TOY), "name": "Toy Cloud"})


def _fields(record: ProviderRegistration) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]
