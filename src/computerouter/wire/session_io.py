"""Wire bodies of a session's logs and exec, and of a sandbox's settings (server and SDK)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from computerouter.domain.instances import ExecResult
from computerouter.domain.limits import EXEC_TIMEOUT_MAX_S
from computerouter.domain.logs import LogLine
from computerouter.domain.session import LifecycleDefaults, SandboxSettings

__all__ = [
    "ExecIn",
    "ExecOut",
    "LifecycleDefaultsOut",
    "LogLineOut",
    "SandboxSettingsIn",
    "SandboxSettingsOut",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogLineOut(_Model):
    source: str = Field(
        description="`session` (the processes' output), `gateway`, or a runtime log file's path."
    )
    text: str

    @classmethod
    def from_line(cls, line: LogLine) -> LogLineOut:
        return cls(source=line.source, text=line.text)

    def to_line(self) -> LogLine:
        return LogLine(source=self.source, text=self.text)


class ExecIn(_Model):
    argv: list[str] = Field(min_length=1, max_length=4096, description="The command and its args.")
    timeout_s: float = Field(
        default=30.0, gt=0, le=EXEC_TIMEOUT_MAX_S, description="Seconds before it is killed."
    )


class ExecOut(_Model):
    exit_code: int
    stdout: str
    stderr: str

    @classmethod
    def from_result(cls, result: ExecResult) -> ExecOut:
        return cls(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr)

    def to_result(self) -> ExecResult:
        return ExecResult(exit_code=self.exit_code, stdout=self.stdout, stderr=self.stderr)


class SandboxSettingsIn(_Model):
    """A sandbox's settings, whole: a field left out or ``null`` is the server's default."""

    idle_suspend_s: float | None = Field(default=None, description="Idle time before suspend.")
    archive_after_s: float | None = Field(default=None, description="Idle time before archive.")
    max_run_s: float | None = Field(default=None, description="Ceiling on one run's time.")
    max_uptime_s: float | None = Field(
        default=None, description="Uptime before a forced suspend, even if busy."
    )


class LifecycleDefaultsOut(_Model):
    idle_suspend_s: float
    archive_after_s: float
    max_run_s: float
    max_uptime_s: float

    @classmethod
    def from_defaults(cls, defaults: LifecycleDefaults) -> LifecycleDefaultsOut:
        return cls(
            idle_suspend_s=defaults.idle_suspend_s,
            archive_after_s=defaults.archive_after_s,
            max_run_s=defaults.max_run_s,
            max_uptime_s=defaults.max_uptime_s,
        )

    def to_defaults(self) -> LifecycleDefaults:
        return LifecycleDefaults(
            idle_suspend_s=self.idle_suspend_s,
            archive_after_s=self.archive_after_s,
            max_run_s=self.max_run_s,
            max_uptime_s=self.max_uptime_s,
        )


class SandboxSettingsOut(_Model):
    """A sandbox's own settings (``null``: unset) and the server's defaults they fall back to."""

    user_id: str
    sandbox_id: str
    idle_suspend_s: float | None
    archive_after_s: float | None
    max_run_s: float | None
    max_uptime_s: float | None
    defaults: LifecycleDefaultsOut

    @classmethod
    def from_settings(
        cls, settings: SandboxSettings, defaults: LifecycleDefaults
    ) -> SandboxSettingsOut:
        return cls(
            user_id=settings.user_id,
            sandbox_id=settings.sandbox_id,
            idle_suspend_s=settings.idle_suspend_s,
            archive_after_s=settings.archive_after_s,
            max_run_s=settings.max_run_s,
            max_uptime_s=settings.max_uptime_s,
            defaults=LifecycleDefaultsOut.from_defaults(defaults),
        )

    def to_settings(self) -> SandboxSettings:
        return SandboxSettings(
            user_id=self.user_id,
            sandbox_id=self.sandbox_id,
            idle_suspend_s=self.idle_suspend_s,
            archive_after_s=self.archive_after_s,
            max_run_s=self.max_run_s,
            max_uptime_s=self.max_uptime_s,
        )
