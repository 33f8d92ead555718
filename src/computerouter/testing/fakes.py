"""In-memory provider, runtime and clock for tests and simulations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import httpx

from computerouter.domain.instances import ExecResult, Instance, InstanceState, InstanceUsage
from computerouter.domain.logs import SESSION_LOG, LogLine
from computerouter.domain.values import Endpoint, LaunchSpec
from computerouter.errors import (
    InputError,
    InstanceNotFound,
    LogsArchived,
    ProviderError,
    RuntimeFailure,
)
from computerouter.providers.base import Capabilities, InstanceSpec
from computerouter.testing.served import ServedRuntime

__all__ = ["FakeClock", "FakeProvider", "FakeRuntime", "ProbedFakeProvider"]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Really wait (other threads make progress meanwhile), and move this clock as far."""
        time.sleep(seconds)
        self.advance(seconds)


@dataclass(kw_only=True, slots=True)
class _FakeInstance:
    instance: Instance
    workspace: dict[str, bytes]
    cpu_seconds: float = 0.0
    log: list[LogLine] = field(default_factory=list)
    pid: int = 0
    served: ServedRuntime | None = None


class FakeProvider:
    """Keeps instances in a dict. ``fail_next`` makes the next call of an operation raise;
    ``before_create`` runs inside ``create`` (to hold it open, or count concurrent calls);
    ``on_exec`` answers ``exec`` (unset: exec is not supported).

    By default nothing runs and endpoints lead nowhere. With ``serve=True`` each running
    instance has a :class:`~computerouter.testing.served.ServedRuntime` that answers like the
    echo runtime on ``http://127.0.0.1:<port>``, freezes while suspended, closes its port when
    archived, and is shut down on destroy; :meth:`close` shuts down every one left.
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        capabilities: Capabilities | None = None,
        create_delay_s: float = 0.0,
        serve: bool = False,
    ) -> None:
        self._name = name
        self._serve = serve
        self._pids = 4000
        self._capabilities = capabilities or Capabilities(
            suspend=True, archive=True, exec=False, warm_start_ms=0.1
        )
        self._instances: dict[str, _FakeInstance] = {}
        self._lock = threading.Lock()
        self.create_delay_s = create_delay_s
        self.calls: list[tuple[str, str]] = []
        self.fail_next: dict[str, ProviderError] = {}
        self.before_create: Callable[[InstanceSpec], None] | None = None
        self.on_exec: Callable[[str, list[str]], ExecResult] | None = None
        """What ``exec`` answers (instance id, argv → result); unset, it is not supported."""
        self._logged = threading.Condition(self._lock)

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def _fail(self, op: str) -> None:
        error = self.fail_next.pop(op, None)
        if error is not None:
            raise error

    def _require(self, instance_id: str) -> _FakeInstance:
        found = self._instances.get(instance_id)
        if found is None:
            raise InstanceNotFound(provider=self._name, instance_id=instance_id)
        return found

    def _set(self, instance_id: str, state: InstanceState) -> Instance:
        with self._lock:
            found = self._require(instance_id)
            found.log.append(LogLine(source=SESSION_LOG, text=f"instance {state.value}"))
            endpoint = found.instance.endpoint if state is InstanceState.RUNNING else None
            if self._serve:
                endpoint = self._place(found, state)
            elif state is InstanceState.RUNNING and endpoint is None:
                endpoint = Endpoint(kind="unix", address=f"/fake/{instance_id}.sock")
            found.instance = replace(found.instance, state=state, endpoint=endpoint)
            self._logged.notify_all()
            return found.instance

    def _place(self, found: _FakeInstance, state: InstanceState) -> Endpoint | None:
        """Bring an instance's served runtime in line with ``state``; its endpoint then."""
        served = found.served
        if state is InstanceState.SUSPENDED and served is not None:
            served.freeze()
            return None
        if state is not InstanceState.RUNNING:
            if served is not None:
                served.close()
                found.served = None
            return None
        if served is None:
            served = ServedRuntime(
                instance_id=found.instance.instance_id, pid=found.pid, workspace=found.workspace
            )
            found.served = served
            found.log.append(LogLine(source=SESSION_LOG, text=served.banner))
        served.thaw()
        return Endpoint(kind="http", address=served.address)

    def create(self, spec: InstanceSpec) -> Instance:
        self.calls.append(("create", spec.idempotency_key))
        if self.before_create is not None:
            self.before_create(spec)
        self._fail("create")
        if self.create_delay_s:
            time.sleep(self.create_delay_s)
        instance_id = f"fk-{spec.idempotency_key}"
        with self._lock:
            existing = self._instances.get(instance_id)
            if existing is not None:
                return existing.instance
            instance = Instance(
                instance_id=instance_id,
                provider=self._name,
                state=InstanceState.RUNNING,
                labels=spec.labels,
                endpoint=Endpoint(kind="unix", address=f"/fake/{instance_id}.sock"),
                region=spec.region,
            )
            found = _FakeInstance(
                instance=instance,
                workspace={},
                log=[LogLine(source=SESSION_LOG, text=f"started runtime {spec.launch.runtime}")],
                pid=self._pids,
            )
            self._pids += 1
            if self._serve:
                endpoint = self._place(found, InstanceState.RUNNING)
                found.instance = replace(instance, endpoint=endpoint)
            self._instances[instance_id] = found
            return found.instance

    def get(self, instance_id: str) -> Instance | None:
        with self._lock:
            found = self._instances.get(instance_id)
            return None if found is None else found.instance

    def list(self) -> Sequence[Instance]:
        with self._lock:
            return [f.instance for f in self._instances.values()]

    def suspend(self, instance_id: str) -> Instance:
        self.calls.append(("suspend", instance_id))
        self._fail("suspend")
        return self._set(instance_id, InstanceState.SUSPENDED)

    def resume(self, instance_id: str) -> Instance:
        self.calls.append(("resume", instance_id))
        self._fail("resume")
        return self._set(instance_id, InstanceState.RUNNING)

    def archive(self, instance_id: str) -> Instance:
        self.calls.append(("archive", instance_id))
        self._fail("archive")
        self._set(instance_id, InstanceState.ARCHIVED)
        return self._retain(instance_id, False)

    def restore(self, instance_id: str, spec: InstanceSpec) -> Instance:
        """Like ``local``: the archive is retained until :meth:`release_archive`."""
        self.calls.append(("restore", instance_id))
        self._fail("restore")
        self._set(instance_id, InstanceState.RUNNING)
        return self._retain(instance_id, True)

    def release_archive(self, instance_id: str) -> None:
        self.calls.append(("release_archive", instance_id))
        with self._lock:
            found = self._instances.get(instance_id)
        if found is not None and found.instance.state is not InstanceState.ARCHIVED:
            self._retain(instance_id, False)

    def _retain(self, instance_id: str, retained: bool) -> Instance:
        with self._lock:
            found = self._require(instance_id)
            found.instance = replace(found.instance, archive_retained=retained)
            return found.instance

    def destroy(self, instance_id: str) -> None:
        self.calls.append(("destroy", instance_id))
        self._fail("destroy")
        with self._lock:
            found = self._instances.pop(instance_id, None)
            if found is not None and found.served is not None:
                found.served.close()
            self._logged.notify_all()

    def usage(self, instance_id: str) -> InstanceUsage:
        with self._lock:
            return InstanceUsage(cpu_seconds=self._require(instance_id).cpu_seconds)

    def exec(self, instance_id: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> ExecResult:
        with self._lock:
            self._require(instance_id)
            if self.on_exec is None:
                raise ProviderError("exec is not supported", provider=self._name)
            self.calls.append(("exec", instance_id))
        return self.on_exec(instance_id, list(argv))

    def logs(
        self, instance_id: str, *, lines: int = 100, follow: bool = False
    ) -> Iterator[LogLine]:
        if lines < 0:
            raise InputError(f"lines must be zero or more, not {lines}")
        with self._lock:
            found = self._require(instance_id)
            if found.instance.state is InstanceState.ARCHIVED:
                raise LogsArchived(
                    instance_id=instance_id, location=f"the {self._name} archive of {instance_id}"
                )
            tail = found.log[len(found.log) - lines :] if lines else []
            seen = len(found.log)
        return self._follow(instance_id, tail, seen) if follow else iter(tail)

    def _follow(self, instance_id: str, tail: Sequence[LogLine], seen: int) -> Iterator[LogLine]:
        yield from tail
        while True:
            with self._lock:
                found = self._instances.get(instance_id)
                while found is not None and len(found.log) == seen:
                    self._logged.wait(timeout=1.0)
                    found = self._instances.get(instance_id)
                if found is None:
                    return  # destroyed
                new, seen = found.log[seen:], len(found.log)
            yield from new

    # -- test helpers -------------------------------------------------------------------------

    def put(self, instance_id: str, state: InstanceState) -> None:
        """Put an instance in ``state`` behind the router's back (what a crash leaves)."""
        self._set(instance_id, state)

    def write_log(self, instance_id: str, text: str, *, source: str = SESSION_LOG) -> None:
        """Append a line to an instance's log, as its runtime would."""
        with self._lock:
            self._require(instance_id).log.append(LogLine(source=source, text=text))
            self._logged.notify_all()

    def vanish(self, instance_id: str) -> None:
        """Make an instance disappear behind the router's back (a host died, say)."""
        with self._lock:
            found = self._instances.pop(instance_id, None)
            if found is not None and found.served is not None:
                found.served.close()

    def served(self, instance_id: str) -> ServedRuntime | None:
        """The runtime served for an instance (``serve=True``), or None."""
        with self._lock:
            found = self._instances.get(instance_id)
            return None if found is None else found.served

    def close(self) -> None:
        """Shut down every served runtime still running; their instances stay, stopped."""
        with self._lock:
            for found in self._instances.values():
                if found.served is not None:
                    self._place(found, InstanceState.STOPPED)
                    found.instance = replace(
                        found.instance, state=InstanceState.STOPPED, endpoint=None
                    )

    def count(self, *, session_id: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for f in self._instances.values()
                if session_id is None or f.instance.labels.session_id == session_id
            )


class FakeRuntime:
    """A runtime whose health is whatever the test says."""

    name = "fake"

    def __init__(self) -> None:
        self.healthy = True

    def launch_spec(self, *, session_id: str) -> LaunchSpec:
        return LaunchSpec(runtime=self.name, argv=("true",))

    def check(self, client: httpx.Client) -> None:
        if not self.healthy:
            raise RuntimeFailure("fake runtime is unhealthy")


class ProbedFakeProvider(FakeProvider):
    """A :class:`FakeProvider` that also offers the health probe
    (:class:`~computerouter.providers.base.HealthProbe`): each probe is recorded in ``calls``
    as ``("probe", region)``; it raises ``down`` while that is set (an outage), or the error
    in ``fail_next["probe"]`` once. ``before_probe`` runs inside each probe (to act while one
    is in flight)."""

    def __init__(self, name: str = "fake", *, capabilities: Capabilities | None = None) -> None:
        super().__init__(name, capabilities=capabilities)
        self.down: ProviderError | None = None
        self.before_probe: Callable[[], None] | None = None

    def probe(self, region: str) -> None:
        with self._lock:
            self.calls.append(("probe", region))
        if self.before_probe is not None:
            self.before_probe()
        self._fail("probe")
        if self.down is not None:
            raise self.down

    def probes(self) -> int:
        return sum(1 for call in self.calls if call[0] == "probe")
