"""Agent turns through the router against the same turns sent straight to Hermes, in one run.

Both paths hit the same Hermes process in the same local session, through the bundled model
stand-in, with the same request (input, instructions, conversation). The router path adds
resolving the agent, ensure_session, recording the run busy and translating events; the direct
path is a bare ``/v1/runs`` call over the session socket. Turns alternate so both see the same
machine noise and the same growing conversation. Also reported: the first turn on a brand-new
session (create + Hermes cold start + its lazy first-turn set-up), and a turn on the session
once archived (restore + Hermes start + the turn) against the warm turn.

    .venv/bin/python bench/turns.py [--turns 12] [--restores 3] [--json bench/results/turns.json]

Goal (printed, never asserted): router / direct p50 ≤ 1.05.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from _shared import console, images_dir, p50, verdict, write_report
from computerouter.agents.factory import agent_router_for
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import RunCompleted, SessionReady
from computerouter.domain.values import SessionKey
from computerouter.providers.local import LocalProvider
from computerouter.runtimes.base import EventContext, TurnRequest
from computerouter.runtimes.hermes import HermesRuntime
from computerouter.runtimes.transport import client_for
from computerouter.standin import StandinModel

TEXT = "hello there"
RESTORE_GOAL_S = 1.0
"""Issue 13: an archived session with a small workspace answers within a second."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--restores", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/turns.json"))
    args = parser.parse_args()
    images = images_dir()
    home = Path(tempfile.mkdtemp(prefix="cr-bench-turns-"))

    with StandinModel() as model:
        settings = Settings.load(
            env={},
            home=home,
            images_dir=images,
            model_base_url=model.base_url,
            # The direct path has no run to hold credit for, so both paths run unbilled:
            # what is compared is routing, not the ledger (bench/ledger.py measures that).
            billing=False,
            # Standbys are booted only where the restores below ask for them.
            restore_pool="local:hermes=1",
        )
        agents = agent_router_for(open_router(settings))
        address = AgentAddress(sandbox_id="bench", slug="support")
        agent = agents.create_agent(
            user_id="bench",
            address=address,
            settings=ModelSettings(compute_provider="local"),
            prompt="You are a benchmark agent.",
        )
        runtime = agents.compute.runtime("hermes")
        assert isinstance(runtime, HermesRuntime)
        with console.status("building the Hermes image if needed…"):
            runtime.image.ensure()

        started = time.perf_counter()
        first = list(agents.run(user_id="bench", address=address, text=TEXT).events())
        first_turn = time.perf_counter() - started
        assert isinstance(first[-1], RunCompleted), first[-1]
        session = agents.compute.store.sessions.find_live(
            SessionKey(user_id="bench", sandbox_id="bench")
        )
        assert session is not None and session.endpoint is not None

        routed: list[float] = []
        direct: list[float] = []
        with (
            client_for(session.endpoint, timeout_s=60) as client,
            Progress(console=console, transient=True) as progress,
        ):
            client.headers.update(runtime.headers(session.id))
            task = progress.add_task("turns", total=args.turns * 2)
            for i in range(args.turns):
                started = time.perf_counter()
                events = list(agents.run(user_id="bench", address=address, text=TEXT).events())
                routed.append(time.perf_counter() - started)
                assert isinstance(events[-1], RunCompleted)
                progress.advance(task)

                context = EventContext(
                    run_id=f"direct{i}", agent_id=agent.id, sandbox_id="bench", user_id="bench"
                )
                request = TurnRequest(
                    run_id=f"direct{i}",
                    input=TEXT,
                    instructions=agent.prompt,
                    conversation=agent.id,
                )
                started = time.perf_counter()
                events = list(runtime.start_turn(client, request, context).events())
                direct.append(time.perf_counter() - started)
                assert isinstance(events[-1], RunCompleted)
                progress.advance(task)
        # Restore, then turn: the session archived (its workspace packed, nothing left running),
        # then a run that restores it, starts Hermes on the unpacked workspace and answers.
        # The same, into a standby (restore_pool): one booted before each archive, untimed.
        restored: list[float] = []
        restore_only: list[float] = []
        standby: list[float] = []
        standby_only: list[float] = []
        for into_standby in [False] * args.restores + [True] * args.restores:
            if into_standby:
                agents.compute.pool.maintain()
                assert agents.compute.provider("local").pooled(), "no standby booted"
            before = agents.compute.get(session.id).instance_id
            agents.compute.archive(session.id)
            started = time.perf_counter()
            events = list(agents.run(user_id="bench", address=address, text=TEXT).events())
            took = time.perf_counter() - started
            assert isinstance(events[-1], RunCompleted), events[-1]
            ready = next(e for e in events if isinstance(e, SessionReady))
            moved = agents.compute.get(session.id).instance_id != before
            assert moved is into_standby, "restored where it should not have been"
            (standby if into_standby else restored).append(took)
            (standby_only if into_standby else restore_only).append(ready.took_ms / 1000)
        agents.compute.destroy(session.id)
        local = agents.compute.provider("local")
        assert isinstance(local, LocalProvider)
        for pooled in local.pooled():
            local.discard(pooled.instance_id)

    ratio = p50(routed) / p50(direct)
    table = Table(title="agent turns: router vs straight to Hermes", title_justify="left")
    for column in ("measure", "n", "p50", "min", "max"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = (
        ("turn via AgentRouter", routed),
        ("same turn, direct to Hermes", direct),
        ("restore (archived session), then turn", restored),
        ("  of which the restore (session ready)", restore_only),
        ("restore into a standby, then turn", standby),
        ("  of which the restore (session ready)", standby_only),
    )
    for name, values in rows:
        table.add_row(
            name,
            str(len(values)),
            f"{p50(values) * 1000:.0f} ms",
            f"{min(values) * 1000:.0f} ms",
            f"{max(values) * 1000:.0f} ms",
        )
    table.add_row("first turn on a brand-new session", "1", f"{first_turn * 1000:.0f} ms", "", "")
    console.print(table)
    shown = f"{ratio:.3f}"
    console.print(f"router / direct (p50): {shown} — goal ≤ 1.05: {verdict(ratio <= 1.05, shown)}")
    for what, values in (("restore", restored), ("restore into a standby", standby)):
        restore = p50(values)
        over = f"{restore / RESTORE_GOAL_S:.2f} times the goal"
        console.print(
            f"{what} then turn (p50) {restore * 1000:.0f} ms against a warm turn's "
            f"{p50(routed) * 1000:.0f} ms — goal ≤ {RESTORE_GOAL_S * 1000:.0f} ms: "
            f"{verdict(restore <= RESTORE_GOAL_S, over)}"
        )
    write_report(
        args.json,
        {
            "routed_s": routed,
            "direct_s": direct,
            "ratio_p50": ratio,
            "first_turn_new_session_s": first_turn,
            "restore_then_turn_s": restored,
            "restore_only_s": restore_only,
            "standby_restore_then_turn_s": standby,
            "standby_restore_only_s": standby_only,
            "restore_goal_s": RESTORE_GOAL_S,
        },
    )


if __name__ == "__main__":
    main()
