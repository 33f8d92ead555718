"""Provider health rows: one circuit per (provider, region), shared by every replica.

Each change is one transaction that reads the row under the write lock (``BEGIN IMMEDIATE`` on
SQLite, ``FOR UPDATE`` on PostgreSQL) and writes the next state, so concurrent replicas agree:
exactly one of them wins the half-open probe, and a failure seen anywhere opens the circuit
everywhere. A closed circuit keeps a row only once it has been actively probed (when, and what
the probe said).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from computerouter.errors import StoreError
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import provider_health

__all__ = ["Circuit", "HealthStore"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, kw_only=True, slots=True)
class Circuit:
    provider: str
    region: str
    state: str
    """``closed`` (serving), ``open`` (skipped until ``open_until``), ``half_open`` (one probe
    in flight, by ``probe_owner``)."""
    failures: int
    cooldown_s: float
    open_until: float
    probe_owner: str | None
    probe_until: float | None
    last_error: str | None
    updated_at: float
    probed_at: float | None = None
    """When an active probe last started on this circuit (any replica's); None: never."""
    probe_error: str | None = None
    """What that probe said when it failed; None when it succeeded (or is still running)."""


def _circuit(row: sa.RowMapping) -> Circuit:
    return Circuit(
        provider=row["provider"],
        region=row["region"],
        state=row["state"],
        failures=row["failures"],
        cooldown_s=row["cooldown_s"],
        open_until=row["open_until"],
        probe_owner=row["probe_owner"],
        probe_until=row["probe_until"],
        last_error=row["last_error"],
        updated_at=row["updated_at"],
        probed_at=row["probed_at"],
        probe_error=row["probe_error"],
    )


class HealthStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, provider: str, region: str = "") -> Circuit | None:
        with translate_store_errors(), read_connection(self._engine) as conn:
            return self._get(conn, provider, region, lock=False)

    def all(self) -> builtins.list[Circuit]:
        query = provider_health.select().order_by(
            provider_health.c.provider, provider_health.c.region
        )
        # Read by every placement, so by every ensure: one SELECT, no write lock.
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [_circuit(row) for row in conn.execute(query).mappings()]

    def claim_probe(
        self, provider: str, region: str, *, owner: str, now: float, probe_s: float
    ) -> bool:
        """An open circuit past its cool-down, or a half-open one whose prober went quiet,
        becomes half-open with ``owner`` as its one prober. True if ``owner`` holds the probe."""
        with translate_store_errors(), self._engine.begin() as conn:
            found = self._get(conn, provider, region, lock=True)
            if found is None or found.state == CLOSED:
                return True
            if found.state == HALF_OPEN and found.probe_owner == owner:
                return True
            expired = found.state == OPEN and now >= found.open_until
            abandoned = found.state == HALF_OPEN and (found.probe_until or 0.0) < now
            if not (expired or abandoned):
                return False
            self._write(
                conn,
                found,
                state=HALF_OPEN,
                probe_owner=owner,
                probe_until=now + probe_s,
                updated_at=now,
            )
            return True

    def claim_active_probe(
        self,
        provider: str,
        region: str,
        *,
        owner: str,
        now: float,
        interval_s: float,
        probe_s: float,
        closed_too: bool,
    ) -> bool:
        """Claim an active probe of the circuit, at most one per ``interval_s`` across every
        replica: an open circuit past its cool-down becomes half-open with ``owner`` as its one
        prober, exactly as :meth:`claim_probe` does for a user's call; a closed one (with
        ``closed_too``) is only stamped. True if ``owner`` is to probe it now."""
        try:
            with translate_store_errors(), self._engine.begin() as conn:
                found = self._get(conn, provider, region, lock=True)
                last = None if found is None else found.probed_at
                if last is not None and now - last < interval_s:
                    return False
                if found is None:
                    if not closed_too:
                        return False
                    conn.execute(
                        provider_health.insert().values(
                            provider=provider,
                            region=region,
                            state=CLOSED,
                            failures=0,
                            cooldown_s=0.0,
                            open_until=0.0,
                            updated_at=now,
                            probed_at=now,
                        )
                    )
                    return True
                if found.state == CLOSED:
                    if not closed_too:
                        return False
                    self._write(conn, found, probed_at=now, probe_error=None)
                    return True
                if found.state == OPEN and now >= found.open_until:
                    self._write(
                        conn,
                        found,
                        state=HALF_OPEN,
                        probe_owner=owner,
                        probe_until=now + probe_s,
                        updated_at=now,
                        probed_at=now,
                        probe_error=None,
                    )
                    return True
                return False  # open and cooling, or a user's probe is in flight
        except StoreError:
            # Another replica inserted the row first (no row to lock yet): it probes.
            if self.get(provider, region) is not None:
                return False
            raise

    def failed(
        self,
        provider: str,
        region: str,
        *,
        now: float,
        base_s: float,
        max_s: float,
        retry_after_s: float | None,
        error: str,
        probed: bool = False,
    ) -> Circuit:
        """Open the circuit: for ``base_s`` the first time, twice as long after a failed
        probe (at most ``max_s``), and never shorter than the vendor's Retry-After.
        ``probed``: an active probe failed so (kept as ``probe_error``)."""
        with translate_store_errors(), self._engine.begin() as conn:
            found = self._get(conn, provider, region, lock=True)
            if found is None or found.state == CLOSED:
                cooldown = base_s
            elif found.state == HALF_OPEN:
                cooldown = min(found.cooldown_s * 2, max_s)
            else:  # open already: another caller's failure; keep the longer of the two
                cooldown = found.cooldown_s
            until = now + max(cooldown, retry_after_s or 0.0)
            if found is not None and found.state == OPEN:
                until = max(until, found.open_until)
            values: dict[str, object] = {
                "state": OPEN,
                "failures": (0 if found is None or found.state == CLOSED else found.failures) + 1,
                "cooldown_s": cooldown,
                "open_until": until,
                "probe_owner": None,
                "probe_until": None,
                "last_error": error[:500],
                "updated_at": now,
            }
            if probed:
                values["probe_error"] = error[:500]
            if found is None:
                conn.execute(
                    provider_health.insert().values(provider=provider, region=region, **values)
                )
            else:
                self._write(conn, found, **values)
            row = self._get(conn, provider, region, lock=False)
        assert row is not None
        return row

    def succeeded(self, provider: str, region: str, *, now: float, probed: bool = False) -> None:
        """Close the circuit (a probe or any call got through). The row goes, unless an
        active probe has stamped it: then it stays, closed, with what the last probe said."""
        with translate_store_errors(), self._engine.begin() as conn:
            found = self._get(conn, provider, region, lock=True)
            if found is None:
                return
            if found.probed_at is None and not probed:
                conn.execute(
                    provider_health.delete().where(
                        provider_health.c.provider == provider, provider_health.c.region == region
                    )
                )
                return
            values: dict[str, object] = {
                "state": CLOSED,
                "failures": 0,
                "cooldown_s": 0.0,
                "open_until": 0.0,
                "probe_owner": None,
                "probe_until": None,
                "updated_at": now,
            }
            if probed:
                values["probe_error"] = None
            self._write(conn, found, **values)

    @staticmethod
    def _get(conn: Connection, provider: str, region: str, *, lock: bool) -> Circuit | None:
        query = provider_health.select().where(
            provider_health.c.provider == provider, provider_health.c.region == region
        )
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        return None if row is None else _circuit(row)

    @staticmethod
    def _write(conn: Connection, found: Circuit, **values: object) -> None:
        conn.execute(
            provider_health.update()
            .where(
                provider_health.c.provider == found.provider,
                provider_health.c.region == found.region,
            )
            .values(**values)
        )
