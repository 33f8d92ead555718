"""Acceptance (ledger): a real Hermes run on ``local`` writes exactly two entries, token and
compute, joined on run_id, priced from the price table and the measured usage and time."""

from __future__ import annotations

import pytest
from hermes_world import World

from computerouter.domain.events import RunCompleted, Usage
from computerouter.ledger import Ledger, load_prices, prices_path
from computerouter.ledger.metering import to_ms
from computerouter.ledger.prices import RATE_DENOMINATOR

# The first test may build the Hermes image (about a minute; more on a slow mirror).
pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]


def test_a_real_run_bills_two_rows_that_match_prices_and_measurements(
    hermes_world: World,
) -> None:
    agents = hermes_world.agents
    ledger = agents.compute.credit_gate
    assert isinstance(ledger, Ledger)
    before = ledger.account("alice")
    run = agents.run(user_id="alice", address=hermes_world.address, text="USE_TOOL please")
    events = list(run.events())
    assert isinstance(events[-1], RunCompleted)
    [usage] = [e for e in events if isinstance(e, Usage)]

    bill = ledger.run_bill(run.run_id)
    assert bill.token is not None
    assert bill.compute is not None
    prices = load_prices(prices_path(hermes_world.settings))
    for entry in (bill.token, bill.compute):
        assert (entry.run_id, entry.user_id, entry.sandbox_id) == (run.run_id, "alice", "sb1")
        assert entry.agent_id == run.agent.id

    # token cost: the runtime's reported usage times the model's price
    token = bill.token
    assert (token.input_tokens, token.output_tokens) == (usage.input_tokens, usage.output_tokens)
    assert token.model == "standin-model"
    model_price = prices.model_price("standin-model")
    assert token.amount == model_price.cost(
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
    )
    assert token.amount > 0

    # compute cost: the run's metered time (its whole span: the session ran throughout)
    # times the provider's rate for the session's resources
    record = agents.compute.store.runs.get(run.run_id)
    assert record is not None
    assert record.ended_at is not None
    session = agents.compute.get(record.session_id)
    compute = bill.compute
    assert compute.quantity_ms == to_ms(record.ended_at) - to_ms(record.started_at)
    rate = prices.compute_price("local").rate(session.resources)
    assert compute.rate_per_ms == rate.per_ms
    exact = compute.quantity_ms * rate.per_ms
    assert exact // RATE_DENOMINATOR <= compute.amount <= exact // RATE_DENOMINATOR + 1
    assert compute.cpu_ms is not None
    assert compute.cpu_ms > 0  # the cgroup's CPU time, for the record

    # and the user's balance paid exactly those two
    after = ledger.account("alice")
    assert before.balance - after.balance == bill.total
    assert after.reserved == 0
