"""The ``daytona`` provider on the official Daytona SDK.

Mapping: ``suspend`` = Daytona stop, ``resume`` = start, ``archive`` = stop then archive,
``restore`` = start of the archived sandbox (Daytona keeps archives itself, so
``release_archive`` is a no-op). Every sandbox carries the labels ``computerouter`` (this
router's id, what ``list`` filters on), ``session_id``, ``user_id``, ``sandbox_id``,
``agent_id`` and ``run_id``; ``create`` finds a sandbox made before for the same session by
its labels, so it is idempotent. Daytona counts only API calls as activity, so the router
calls :meth:`DaytonaProvider.keep_alive` during each turn; the vendor's own auto-stop and
auto-archive timers are set long, a backstop behind the router's.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from computerouter.domain.instances import ExecResult, Instance, InstanceState, InstanceUsage
from computerouter.domain.logs import SESSION_LOG, LogLine
from computerouter.domain.values import Endpoint, Labels, RuntimeImage
from computerouter.errors import InstanceNotFound, LogsArchived, ProviderError, RuntimeFailure
from computerouter.providers.base import Capabilities, InstanceSpec
from computerouter.providers.daytona import launch as placement
from computerouter.providers.daytona import transfer
from computerouter.providers.daytona.errors import PROVIDER, translate
from computerouter.providers.daytona.states import GONE, instance_state
from computerouter.providers.egress.remote import RemoteGateway
from computerouter.providers.egress.remote_seam import RemoteEgress

__all__ = ["ROUTER_LABEL", "DaytonaProvider"]

ROUTER_LABEL = "computerouter"
PROBE_LABEL = "computerouter_probe"
"""A label no sandbox carries: the health probe lists by it, so the answer is empty."""
_CLK_TCK = 100


def _no_retry_after_sleep(client: Any) -> None:
    """urllib3's default retry sleeps out a 429/503's Retry-After inside the SDK's call; the
    router's health circuit is what must honour it, so the SDK's API pool retries only broken
    connections and hands every status back at once; a read timeout is raised as itself
    (``read=False``), which the SDK reports as a timeout."""
    from urllib3.util.retry import Retry

    pool = client._api_client.rest_client.pool_manager
    pool.connection_pool_kw["retries"] = Retry(
        total=3, status=0, read=False, redirect=0, respect_retry_after_header=False
    )
    pool.clear()


class DaytonaProvider(RemoteEgress):
    """With ``gateway`` (the router's remote gateway), every sandbox's egress goes through it
    and its network allow list names it alone (see :mod:`.launch`)."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        target: str = "",
        router_id: str = "default",
        regions: tuple[str, ...] = (),
        auto_stop_minutes: int = 60,
        auto_archive_minutes: int = 43_200,
        settle_timeout_s: float = 120.0,
        request_timeout_s: float = 30.0,
        gateway: RemoteGateway | None = None,
    ) -> None:
        from daytona import Daytona, DaytonaConfig

        self._gateway = gateway
        with translate("connect"):
            self._client = Daytona(
                DaytonaConfig(api_url=api_url, api_key=api_key, target=target or None)
            )
        _no_retry_after_sleep(self._client)
        self._target = target
        self._router_id = router_id
        self._auto_stop = auto_stop_minutes
        self._auto_archive = auto_archive_minutes
        self._settle_timeout_s = settle_timeout_s
        self._request_timeout_s = request_timeout_s
        self._capabilities = Capabilities(
            suspend=True,
            archive=True,
            exec=True,
            regions=regions,
            warm_start_ms=150.0,
            regional_probe=False,
        )
        self._cpu_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    # -- reading -------------------------------------------------------------------------

    def _sandbox(self, instance_id: str) -> Any:
        from daytona import DaytonaNotFoundError

        try:
            with translate("get", instance_id):
                sandbox = self._client.get(instance_id, request_timeout=self._request_timeout_s)
        except InstanceNotFound:
            raise
        except ProviderError as exc:
            if isinstance(exc.__cause__, DaytonaNotFoundError):
                raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id) from exc
            raise
        if getattr(sandbox.state, "value", sandbox.state) in GONE:
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
        if sandbox.labels.get(ROUTER_LABEL) != self._router_id:
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
        return sandbox

    def _instance(self, sandbox: Any, *, port: int | None = None) -> Instance:
        state = instance_state(sandbox.state) or InstanceState.UNKNOWN
        target = None
        if state is InstanceState.RUNNING and port is not None:
            with translate("preview link", sandbox.id):
                target = placement.endpoint(sandbox, port)
        return Instance(
            instance_id=sandbox.id,
            provider=PROVIDER,
            state=state,
            labels=Labels.from_dict({**sandbox.labels}),
            endpoint=target,
            region=str(sandbox.target or ""),
        )

    def _port(self, sandbox: Any) -> int:
        return int(sandbox.labels.get("computerouter_port", "8080"))

    def get(self, instance_id: str) -> Instance | None:
        try:
            sandbox = self._sandbox(instance_id)
        except InstanceNotFound:
            return None
        return self._instance(sandbox, port=self._port(sandbox))

    def probe(self, region: str) -> None:
        """One list call filtered on a label no sandbox carries (an empty answer): the API
        answers and takes the key. Daytona's targets share one API, so ``region`` does not
        change the call."""
        from daytona import ListSandboxesQuery

        with translate("probe"):
            query = ListSandboxesQuery(labels={**self._labels(), PROBE_LABEL: "probe"})
            list(self._client.list(query, request_timeout=self._request_timeout_s))

    def list(self) -> Sequence[Instance]:
        from daytona import ListSandboxesQuery

        with translate("list"):
            query = ListSandboxesQuery(labels=self._labels())
            found = list(self._client.list(query, request_timeout=self._request_timeout_s))
        return [
            self._instance(s)
            for s in found
            if instance_state(s.state) is not None and "session_id" in s.labels
        ]

    def _labels(self, labels: Labels | None = None) -> dict[str, str]:
        own = {ROUTER_LABEL: self._router_id}
        if labels is not None:
            own.update({k: v for k, v in labels.as_dict().items() if v})
        return own

    # -- lifecycle -----------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> Instance:
        return self._create(spec, None)

    def create_from_workspace(self, spec: InstanceSpec, source: Path) -> Instance:
        """``create``, the portable copy at ``source`` unpacked in the sandbox's workspace
        before the runtime is placed (a retried call finds the sandbox the first one made)."""
        return self._create(spec, source)

    def export_workspace(self, instance_id: str, dest: Path) -> None:
        """The portable copy of the workspace. The toolbox runs in the sandbox, so a stopped
        or archived one is started for the export and stopped (or archived) again after."""
        sandbox = self._sandbox(instance_id)
        found = instance_state(sandbox.state)
        if found is not InstanceState.RUNNING:
            with translate("start", instance_id):
                sandbox.start(timeout=self._settle_timeout_s)
                self._settle_started(sandbox)
        try:
            transfer.export_to(sandbox, dest)
        finally:
            if found is InstanceState.ARCHIVED:
                self.archive(instance_id)
            elif found is InstanceState.SUSPENDED:
                self.suspend(instance_id)

    def _create(self, spec: InstanceSpec, seed: Path | None) -> Instance:
        from daytona import CreateSandboxFromSnapshotParams, ListSandboxesQuery

        launch = spec.launch
        plan = placement.plan(launch, self.gateway_address())
        mine = {ROUTER_LABEL: self._router_id, "session_id": spec.labels.session_id}
        with translate("create"):
            found = [
                s
                for s in self._client.list(
                    ListSandboxesQuery(labels=mine), request_timeout=self._request_timeout_s
                )
                if instance_state(s.state) is not None
            ]
        if found:
            return self._bring_up(found[0].id, spec)
        params = CreateSandboxFromSnapshotParams(
            snapshot=launch.image.ref if launch.image is not None else None,
            labels={
                **self._labels(spec.labels),
                "computerouter_port": str(launch.port),
                "computerouter_health": launch.health_path,
            },
            env_vars=plan.egress_env,
            auto_stop_interval=self._auto_stop,
            auto_archive_interval=self._auto_archive,
            auto_delete_interval=-1,
            network_allow_list=",".join(plan.allow) or None,
            network_block_all=not plan.allow,
            target=spec.region or self._target or None,
        )
        sandbox = self._create_sandbox(params)
        self.register_routes(sandbox.id, launch)
        try:
            with translate("create", sandbox.id):
                self._settle_started(sandbox)
            if params.snapshot is None and launch.image is not None:
                self._install(sandbox, launch.image)
            if seed is not None:
                transfer.seed(sandbox, seed)
            self._place(sandbox, spec)
        except BaseException:
            self.destroy(sandbox.id)
            raise
        return self._instance(sandbox, port=launch.port)

    def _create_sandbox(self, params: Any) -> Any:
        """Create from the runtime's snapshot; where Daytona has no such snapshot (a 404 on a
        create names nothing else this provider sends), from the default image instead, the
        caller then installing the runtime on first boot."""
        from daytona import DaytonaNotFoundError

        try:
            with translate("create"):
                return self._client.create(params, timeout=self._settle_timeout_s)
        except ProviderError as exc:
            if params.snapshot is None or not isinstance(exc.__cause__, DaytonaNotFoundError):
                raise
        params.snapshot = None
        params.network_block_all = False  # the install reaches its package index
        with translate("create"):
            return self._client.create(params, timeout=self._settle_timeout_s)

    def _install(self, sandbox: Any, image: RuntimeImage) -> None:
        with translate("install", sandbox.id):
            ran = sandbox.process.exec(shlex.join(image.install), timeout=1800)
        if ran.exit_code != 0:
            tail = str(ran.result).strip().splitlines()[-1:] or [""]
            raise RuntimeFailure(
                f"installing {image.ref} in {sandbox.id} failed ({ran.exit_code}): {tail[0]}"
            )

    def _place(self, sandbox: Any, spec: InstanceSpec) -> None:
        launch = spec.launch
        with translate("launch", sandbox.id):
            egress_env = placement.plan(launch, self.gateway_address()).egress_env
            placement.write_runtime(sandbox, launch, egress_env)
            placement.start_runtime(sandbox)
            target = placement.endpoint(sandbox, launch.port)
        placement.wait_healthy(self._booting(target, sandbox.id, spec.labels.session_id), launch)

    def _bring_up(self, instance_id: str, spec: InstanceSpec | None) -> Instance:
        """Started, with the runtime answering: start it if stopped or archived, run the launch
        script again if its process is gone (rewriting the runtime first when given a spec)."""
        sandbox = self._sandbox(instance_id)
        if spec is not None:
            self.register_routes(instance_id, spec.launch)
        if instance_state(sandbox.state) is not InstanceState.RUNNING:
            with translate("start", instance_id):
                sandbox.start(timeout=self._settle_timeout_s)
                self._settle_started(sandbox)
        port = self._port(sandbox)
        with translate("preview link", instance_id):
            target = placement.endpoint(sandbox, port)
        health = sandbox.labels.get("computerouter_health", "/health")
        target = self._booting(target, instance_id, sandbox.labels.get("session_id", ""))
        if not placement.answers(target, health):
            with translate("launch", instance_id):
                if spec is not None:
                    egress_env = placement.plan(spec.launch, self.gateway_address()).egress_env
                    placement.write_runtime(sandbox, spec.launch, egress_env)
                placement.start_runtime(sandbox)
            if spec is not None:
                placement.wait_healthy(target, spec.launch)
            else:
                # Its launch script, written at create, starts it as it did then.
                placement.wait_answering(target, health, self._settle_timeout_s, "session's")
        return self._instance(sandbox, port=port)

    def _booting(self, target: Endpoint, instance_id: str, session_id: str) -> Endpoint:
        """``target`` with the identity the runtime boots with (see ``boot_headers``)."""
        boot = self.boot_headers(instance_id, session_id)
        return replace(target, headers=(*target.headers, *boot)) if boot else target

    def _settle_started(self, sandbox: Any) -> None:
        """Our copy of the sandbox says started. The SDK's ``start`` returns once its event
        stream says so, but a poll it had in flight may land afterwards and write back the
        ``starting`` it read before: read again until the copy agrees."""
        deadline = time.monotonic() + self._settle_timeout_s
        while instance_state(sandbox.state) is InstanceState.CREATING:
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"start {sandbox.id}: still {sandbox.state}", provider=PROVIDER, retryable=True
                )
            sandbox.refresh_data()

    def suspend(self, instance_id: str) -> Instance:
        sandbox = self._sandbox(instance_id)
        if instance_state(sandbox.state) is InstanceState.RUNNING:
            self._cpu_seen[instance_id] = self._cpu_seconds(sandbox)
            with translate("stop", instance_id):
                sandbox.stop(timeout=self._settle_timeout_s)
        return self._instance(sandbox)

    def resume(self, instance_id: str) -> Instance:
        return self._bring_up(instance_id, None)

    def archive(self, instance_id: str) -> Instance:
        sandbox = self._sandbox(instance_id)
        state = instance_state(sandbox.state)
        if state is InstanceState.ARCHIVED:
            return self._instance(sandbox)
        if state is InstanceState.RUNNING:
            self.suspend(instance_id)
        with translate("archive", instance_id):
            if getattr(sandbox.state, "value", "") != "archiving":
                sandbox.archive()
            deadline = time.monotonic() + self._settle_timeout_s
            pause = 0.02
            while instance_state(sandbox.state) is not InstanceState.ARCHIVED:
                if time.monotonic() > deadline:
                    raise ProviderError(
                        f"archive {instance_id}: still {sandbox.state}",
                        provider=PROVIDER,
                        retryable=True,
                    )
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                sandbox.refresh_data()
        return self._instance(sandbox)

    def restore(self, instance_id: str, spec: InstanceSpec) -> Instance:
        return self._bring_up(instance_id, spec)

    def release_archive(self, instance_id: str) -> None:
        """Daytona keeps and drops its archives itself."""

    def destroy(self, instance_id: str) -> None:
        self.forget_routes(instance_id)
        try:
            sandbox = self._sandbox(instance_id)
        except InstanceNotFound:
            return
        with translate("delete", instance_id):
            sandbox.delete(timeout=self._settle_timeout_s, wait=True)
        self._cpu_seen.pop(instance_id, None)

    def keep_alive(self, instance_id: str) -> None:
        """Count a turn in flight as activity (Daytona's idle timers see only API calls)."""
        with translate("refresh activity", instance_id):
            self._client.get(instance_id).refresh_activity()

    # -- inside --------------------------------------------------------------------------

    def _cpu_seconds(self, sandbox: Any) -> float:
        """CPU used by the processes alive in the sandbox (its own pid namespace)."""
        with translate("usage", sandbox.id):
            ran = sandbox.process.exec("cat /proc/[0-9]*/stat 2>/dev/null", timeout=10)
        ticks = 0
        for line in str(ran.result).splitlines():
            fields = line.rpartition(")")[2].split()
            if len(fields) > 14:
                ticks += sum(int(f) for f in fields[11:15])
        return ticks / _CLK_TCK

    def usage(self, instance_id: str) -> InstanceUsage:
        sandbox = self._sandbox(instance_id)
        if instance_state(sandbox.state) is InstanceState.RUNNING:
            seen = self._cpu_seconds(sandbox)
            self._cpu_seen[instance_id] = seen
            return InstanceUsage(cpu_seconds=seen)
        return InstanceUsage(cpu_seconds=self._cpu_seen.get(instance_id, 0.0))

    def exec(self, instance_id: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> ExecResult:
        sandbox = self._sandbox(instance_id)
        with translate("exec", instance_id):
            ran = sandbox.process.exec(shlex.join(argv), timeout=max(1, int(timeout_s)))
        return ExecResult(exit_code=int(ran.exit_code or 0), stdout=str(ran.result), stderr="")

    def logs(
        self, instance_id: str, *, lines: int = 100, follow: bool = False
    ) -> Iterator[LogLine]:
        sandbox = self._sandbox(instance_id)
        if instance_state(sandbox.state) is InstanceState.ARCHIVED:
            raise LogsArchived(
                instance_id=instance_id, location=f"daytona archive of sandbox {instance_id}"
            )
        return self._log_lines(sandbox, lines, follow)

    def _log_lines(self, sandbox: Any, lines: int, follow: bool) -> Iterator[LogLine]:
        if lines > 0:
            with translate("logs", sandbox.id):
                ran = sandbox.process.exec(f"tail -n {int(lines)} {placement.SESSION_LOG}")
            for text in str(ran.result).splitlines():
                yield LogLine(source=SESSION_LOG, text=text)
            yield from self.gateway_log(sandbox.id, lines)
        if not follow:
            return
        with translate("logs", sandbox.id):
            size = sandbox.process.exec(f"wc -c < {placement.SESSION_LOG}").result
        offset = int(str(size).strip() or 0)
        while True:
            time.sleep(0.5)
            with translate("logs", sandbox.id):
                ran = sandbox.process.exec(f"tail -c +{offset + 1} {placement.SESSION_LOG}")
            chunk = str(ran.result)
            offset += len(chunk.encode())
            for text in chunk.splitlines():
                yield LogLine(source=SESSION_LOG, text=text)
