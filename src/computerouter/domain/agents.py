"""Agents: a row ``(sandbox_id, slug)`` with model settings, as the seed describes.

The compute axis is two orthogonal fields: ``backend`` picks the runtime, ``compute_provider``
(a pin) or ``compute_policy`` picks where it runs; ``compute_region`` pins a region.
``max_run_s`` is the agent's ceiling on one run's running time; ``egress_allow`` adds the
destinations its runs may reach through the session's egress gateway (the user's rules: see
:mod:`computerouter.domain.gateway`; they never unlock private or loopback addresses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from computerouter.domain.ceilings import check_ceiling
from computerouter.domain.gateway import AllowRule, parse_allowlist
from computerouter.domain.limits import check_region
from computerouter.errors import InputError

__all__ = [
    "COMPUTE_POLICIES",
    "SELF_HOSTED_BACKENDS",
    "VENDOR_BACKENDS",
    "AgentAddress",
    "AgentRecord",
    "ModelSettings",
]

SELF_HOSTED_BACKENDS = ("hermes", "concierge", "echo")
"""Runtimes ComputeRouter runs on managed compute (``concierge``: Hermes whose MCP server is
the operator's operations, acting as the agent's user; see :mod:`computerouter.concierge`;
``echo``: the test runtime, which repeats its input, for tests and benchmarks)."""
VENDOR_BACKENDS = ("anthropic", "google")
"""Vendor-managed agents: their vendor runs the compute; they never reach ComputeRouter."""
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""What a provider name looks like; which providers exist is the provider registry's."""
COMPUTE_POLICIES = ("latency-aware", "cost-aware")

EGRESS_ALLOW_MAX_CHARS = 4096
ON_PROVIDER_DOWN = ("wait", "move")
"""What an agent's archived session does when its provider is down: wait for it to come back
(the default), or move to another of the agent's candidates, memory included."""
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSettings:
    backend: str = "hermes"
    compute_provider: str | None = None
    compute_policy: str | None = None
    compute_region: str | None = None
    max_run_s: float | None = None
    """This agent's ceiling on one run's running time; ``None``: its sandbox's, else the
    default (see :mod:`computerouter.domain.ceilings`)."""
    egress_allow: str | None = None
    """``HOST:PORT`` rules its runs may reach besides the operator's (``None``: none)."""
    on_provider_down: str = "wait"
    """``wait`` or ``move`` (see :data:`ON_PROVIDER_DOWN`)."""

    def __post_init__(self) -> None:
        if self.on_provider_down not in ON_PROVIDER_DOWN:
            raise InputError(
                f"unknown on_provider_down {self.on_provider_down!r} "
                f"(known: {', '.join(ON_PROVIDER_DOWN)})"
            )
        if self.egress_allow is not None:
            if len(self.egress_allow) > EGRESS_ALLOW_MAX_CHARS:
                raise InputError(f"egress_allow is at most {EGRESS_ALLOW_MAX_CHARS} characters")
            parse_allowlist(self.egress_allow, operator=False)
        if self.max_run_s is not None:
            check_ceiling(self.max_run_s, what="the run ceiling (max_run_s)")
        if self.compute_region is not None:
            check_region(self.compute_region)
        known = SELF_HOSTED_BACKENDS + VENDOR_BACKENDS
        if self.backend not in known:
            raise InputError(f"unknown backend {self.backend!r} (known: {', '.join(known)})")
        if self.compute_provider is not None and self.compute_policy is not None:
            raise InputError("give either a compute provider (a pin) or a compute policy, not both")
        if self.compute_provider is not None and not _PROVIDER_NAME.fullmatch(
            self.compute_provider
        ):
            raise InputError(
                f"unknown compute provider {self.compute_provider!r} "
                f"(a provider name is lower-case letters, digits and '_')"
            )
        if self.compute_policy is not None and self.compute_policy not in COMPUTE_POLICIES:
            raise InputError(
                f"unknown compute policy {self.compute_policy!r} "
                f"(known: {', '.join(COMPUTE_POLICIES)})"
            )

    @property
    def egress_rules(self) -> tuple[AllowRule, ...]:
        """The agent's own gateway rules (never the operator's: they unlock no refused range)."""
        return parse_allowlist(self.egress_allow or "", operator=False)

    @property
    def effective_policy(self) -> str:
        return self.compute_policy or "latency-aware"


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentAddress:
    """``sandbox/slug``: where an agent lives, within one user's account."""

    sandbox_id: str
    slug: str

    @classmethod
    def parse(cls, text: str, *, default_sandbox: str | None = None) -> AgentAddress:
        sandbox, sep, slug = text.strip().rpartition("/")
        if not sep:
            if default_sandbox is None:
                raise InputError(f"agent address {text!r} must be SANDBOX/SLUG (or pass --sandbox)")
            sandbox = default_sandbox
        validate_slug(slug)
        from computerouter.domain.values import SessionKey

        SessionKey(user_id="u", sandbox_id=sandbox)  # validates the sandbox id
        return cls(sandbox_id=sandbox, slug=slug)

    def __str__(self) -> str:
        return f"{self.sandbox_id}/{self.slug}"


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise InputError(
            f"agent slug {slug!r} is not valid: 1-63 of lower-case letters, digits and '-'"
        )
    return slug


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentRecord:
    id: str
    user_id: str
    sandbox_id: str
    slug: str
    settings: ModelSettings
    prompt: str
    created_at: float
    updated_at: float

    @property
    def address(self) -> AgentAddress:
        return AgentAddress(sandbox_id=self.sandbox_id, slug=self.slug)
