"""The warm pool: the first turn on a new sandbox with the pool, against a warm turn on a running
session and against the first turn with the pool off, side by side in one run.

Real Hermes in real local sessions, through the bundled model stand-in, unbilled (as
``bench/turns.py``). Two routers on two homes: one keeps ``warm_pool = local:hermes=1`` (the
pool is refilled before each round, untimed, as the lifecycle pass would do it in the
background), the other keeps none. Each round runs an agent's first turn on a brand-new
sandbox on each, then the warm turns on the pooled round's session. Also reported: what the
session's creation itself took (its ``provisioning`` → ``running`` in the store), a claim from
the pool against a cold create.

    .venv/bin/python bench/pool.py [--rounds 3] [--turns 5] [--json bench/results/pool.json]

Goal (issue 13; printed, never asserted): first turn with the pool ≤ warm turn + 100 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.table import Table

from _shared import console, images_dir, ms, p50, verdict, write_report
from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import RunCompleted
from computerouter.domain.values import SessionKey
from computerouter.runtimes.hermes import HermesRuntime
from computerouter.standin import StandinModel

TEXT = "hello there"
USER = "bench"
GOAL_EXTRA_S = 0.100


def agents_for(home: Path, model: StandinModel, warm_pool: str) -> AgentRouter:
    settings = Settings.load(
        env={},
        home=home,
        images_dir=images_dir(),
        model_base_url=model.base_url,
        billing=False,
        lifecycle_daemon=False,
        warm_pool=warm_pool,
    )
    return agent_router_for(open_router(settings))


def first_turn(agents: AgentRouter, sandbox: str) -> tuple[float, float, str]:
    """(seconds of the turn, seconds the session took to create, its creation reason)."""
    address = AgentAddress(sandbox_id=sandbox, slug="support")
    agents.create_agent(
        user_id=USER,
        address=address,
        settings=ModelSettings(compute_provider="local"),
        prompt="You are a benchmark agent.",
    )
    started = time.perf_counter()
    events = list(agents.run(user_id=USER, address=address, text=TEXT).events())
    took = time.perf_counter() - started
    assert isinstance(events[-1], RunCompleted), events[-1]
    session = agents.compute.store.sessions.find_live(SessionKey(user_id=USER, sandbox_id=sandbox))
    assert session is not None
    history = agents.compute.store.sessions.history(session.id)
    running = next(row for row in history if row.to_state.value == "running")
    return took, running.at - session.created_at, running.reason


def warm_turn(agents: AgentRouter, sandbox: str) -> float:
    address = AgentAddress(sandbox_id=sandbox, slug="support")
    started = time.perf_counter()
    events = list(agents.run(user_id=USER, address=address, text=TEXT).events())
    assert isinstance(events[-1], RunCompleted), events[-1]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("bench/results/pool.json"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cr-bench-pool-"))

    pooled_turns: list[float] = []
    pooled_creates: list[float] = []
    cold_turns: list[float] = []
    cold_creates: list[float] = []
    warm_turns: list[float] = []
    refills: list[float] = []
    with StandinModel() as model:
        pool = agents_for(base / "pool", model, "local:hermes=1")
        cold = agents_for(base / "cold", model, "")
        runtime = pool.compute.runtime("hermes")
        assert isinstance(runtime, HermesRuntime)
        with console.status("building the Hermes image if needed…"):
            runtime.image.ensure()
        try:
            for i in range(args.rounds):
                with console.status(f"round {i + 1}/{args.rounds}: refilling the pool…"):
                    started = time.perf_counter()
                    report = pool.compute.pool.maintain()
                    refills.append(time.perf_counter() - started)
                    assert not report.errors, report.errors
                with console.status(f"round {i + 1}/{args.rounds}: first turns…"):
                    took, created, reason = first_turn(pool, f"pool{i}")
                    assert reason == "created from the warm pool", reason
                    pooled_turns.append(took)
                    pooled_creates.append(created)
                    took, created, reason = first_turn(cold, f"cold{i}")
                    assert reason == "created", reason
                    cold_turns.append(took)
                    cold_creates.append(created)
                with console.status(f"round {i + 1}/{args.rounds}: warm turns…"):
                    warm_turns.extend(warm_turn(pool, f"pool{i}") for _ in range(args.turns))
        finally:
            for agents in (pool, cold):
                compute = agents.compute
                for session in compute.store.sessions.list():
                    if session.state.value not in ("destroyed", "failed"):
                        compute.destroy(session.id)
                local = compute.providers["local"]
                for instance in local.list():
                    local.destroy(instance.instance_id)
                compute.store.close()

    table = Table(title="first turn on a new sandbox: warm pool", title_justify="left")
    for column in ("measure", "n", "p50", "min", "max"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = (
        ("first turn, new sandbox, pool on", pooled_turns),
        ("warm turn, running session", warm_turns),
        ("first turn, new sandbox, pool off", cold_turns),
        ("  of which: claim from the pool", pooled_creates),
        ("  of which: cold create", cold_creates),
        ("refill of one pooled Hermes (background)", refills),
    )
    for name, values in rows:
        table.add_row(name, str(len(values)), ms(p50(values)), ms(min(values)), ms(max(values)))
    console.print(table)
    extra = p50(pooled_turns) - p50(warm_turns)
    met = extra <= GOAL_EXTRA_S
    shown = f"+{extra * 1000:.0f} ms"
    console.print(
        f"first turn with the pool vs a warm turn (p50): {shown} — goal ≤ +100 ms: "
        f"{verdict(met, shown)}; pool off / pool on: {p50(cold_turns) / p50(pooled_turns):.2f}x"
    )
    write_report(
        args.json,
        {
            "first_turn_pool_s": pooled_turns,
            "warm_turn_s": warm_turns,
            "first_turn_no_pool_s": cold_turns,
            "claim_s": pooled_creates,
            "cold_create_s": cold_creates,
            "refill_s": refills,
            "goal": {
                "pool_over_warm_p50_s": extra,
                "met": met,
                "no_pool_over_pool_p50": p50(cold_turns) / p50(pooled_turns),
            },
        },
    )


if __name__ == "__main__":
    main()
