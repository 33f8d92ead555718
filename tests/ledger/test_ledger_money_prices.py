"""Money parses exactly, prints exactly; the price file is documented, strict and merged."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from computerouter.config import Settings
from computerouter.domain.values import Resources
from computerouter.errors import ConfigError, InputError
from computerouter.ledger import (
    ComputePrice,
    ModelPrice,
    format_credits,
    load_prices,
    parse_credits,
    prices_path,
)
from computerouter.ledger import prices as prices_module
from computerouter.ledger.prices import ANY, RATE_DENOMINATOR


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("12.5", 12_500_000),
        ("0.000001", 1),
        ("1", 1_000_000),
        (" 3.140000 ", 3_140_000),
        ("1_000", 1_000_000_000),
        ("0.1", 100_000),  # 0.1 has no exact float; as a Decimal it is exact
    ],
)
def test_parse_credits_is_exact(text: str, micro: int) -> None:
    assert parse_credits(text) == micro


@pytest.mark.parametrize(
    "text", ["", "abc", "-1", "1e3", "0.0000001", "nan", "inf", "1.2.3", ".", "0", "+5", "1,5"]
)
def test_bad_amounts_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_credits(text)


@given(st.integers(min_value=1, max_value=10**18))
def test_format_then_parse_round_trips(micro: int) -> None:
    assert parse_credits(format_credits(micro).replace(",", "")) == micro


def test_format_credits() -> None:
    assert format_credits(12_500_000) == "12.50"
    assert format_credits(230) == "0.00023"
    assert format_credits(-1_000_000) == "-1.00"
    assert format_credits(1_234_567_000_000) == "1,234,567.00"


def test_defaults_price_every_provider_and_model(tmp_path: Path) -> None:
    table = load_prices(tmp_path / "absent.toml")
    assert table.source == "built-in defaults"
    assert table.compute_price("local").cpu_hour > 0
    assert table.compute_price("never-heard-of") == table.compute[ANY].default
    assert table.model_price("some/model") == table.models[ANY]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = prices_module.__doc__ or ""
    example = doc.split("::", 1)[1].split("\n\n", 1)[1].split("\nCompute is billed", 1)[0]
    path = tmp_path / "prices.toml"
    path.write_text("\n".join(line.removeprefix("    ") for line in example.splitlines()))
    table = load_prices(path)
    assert table.budget.run_reserve == 100_000
    daytona = table.compute_price("daytona")
    assert table.compute_price("daytona", "eu") == ComputePrice(
        cpu_hour=60_000, memory_gib_hour=daytona.memory_gib_hour
    )
    assert table.model_price("x") == ModelPrice(input_per_mtok=200_000, output_per_mtok=600_000)


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        "[compute.local]\ncpu_hour = 7\n"
        "[compute.gpu_cloud]\nshape_hour = 9\n"
        '[models."hermes-3"]\noutput_per_mtok = 5\n'
        "[budget]\nfloor = -2_000_000\n"
    )
    table = load_prices(path)
    defaults = load_prices(tmp_path / "absent.toml")
    assert table.compute_price("local").cpu_hour == 7
    assert (
        table.compute_price("local").memory_gib_hour
        == defaults.compute_price("local").memory_gib_hour
    )
    assert table.compute_price("gpu_cloud").shape_hour == 9
    assert table.model_price("hermes-3").output_per_mtok == 5
    assert table.model_price("hermes-3").input_per_mtok == defaults.models[ANY].input_per_mtok
    assert table.budget.floor == -2_000_000
    assert table.budget.run_reserve == defaults.budget.run_reserve


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[compute.local]\ncpu_hour = 0.5\n", "whole number of micro-credits"),
        ("[compute.local]\ncpu_hour = -1\n", "cannot be negative"),
        ("[compute.local]\ncpu_hours = 1\n", "unknown key 'cpu_hours'"),
        ("[budgets]\n", "unknown key 'budgets'"),
        ("[compute]\nlocal = 3\n", "must be a table"),
        ("not toml = = =\n", "cannot read the price file"),
    ],
)
def test_a_bad_price_file_is_one_config_error(tmp_path: Path, body: str, words: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=words):
        load_prices(path)


def test_prices_path_follows_the_setting(tmp_path: Path) -> None:
    assert prices_path(Settings.load(env={}, home=tmp_path)) == tmp_path / "prices.toml"
    custom = Settings.load(env={"COMPUTEROUTER_PRICES_FILE": "/etc/cr/p.toml"}, home=tmp_path)
    assert prices_path(custom) == Path("/etc/cr/p.toml")


def test_compute_rate_is_exact_for_the_shape() -> None:
    price = ComputePrice(cpu_hour=36_000, memory_gib_hour=3_600, shape_hour=360)
    rate = price.rate(Resources(cpus=0.5, memory_mb=512))
    # Per hour: 0.5 * 36_000 + 0.5 GiB * 3_600 + 360 = 20_160 micro-credits; per second 5.6.
    assert rate.per_hour == 20_160
    assert rate.charge(1000, carry=0) == (5, 6 * RATE_DENOMINATOR // 10)
    # Ten one-second charges carry the fractions forward: exactly 56, not 10 * 5 = 50.
    total, carry = 0, 0
    for _ in range(10):
        amount, carry = rate.charge(1000, carry=carry)
        total += amount
    assert (total, carry) == (56, 0)


@given(
    st.lists(st.integers(min_value=0, max_value=10**8), max_size=30),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)
def test_carried_charges_sum_to_the_exact_cost(chunks: list[int], cpu: int, mem: int) -> None:
    rate = ComputePrice(cpu_hour=cpu, memory_gib_hour=mem).rate(Resources(cpus=1.5, memory_mb=3000))
    total, carry = 0, 0
    for ms in chunks:
        amount, carry = rate.charge(ms, carry=carry)
        total += amount
    assert total * RATE_DENOMINATOR + carry == sum(chunks) * rate.per_ms


def test_token_cost_rounds_down_to_whole_micro_credits() -> None:
    price = ModelPrice(input_per_mtok=200_000, output_per_mtok=600_000)
    assert price.cost(input_tokens=1_000, output_tokens=500) == 500
    assert price.cost(input_tokens=3, output_tokens=0) == 0  # 0.6 micro-credits
    assert price.cost(input_tokens=1_000_000, output_tokens=1_000_000) == 800_000
