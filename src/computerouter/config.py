"""Settings: every knob in one registry, read with env > file > default precedence.

The file is ``$COMPUTEROUTER_HOME/config.toml`` (top-level keys named like the fields below,
UTF-8, at most :data:`~computerouter.domain.limits.CONFIG_FILE_MAX_BYTES`). Environment
variables are ``COMPUTEROUTER_`` + the field name in upper case. Every number is finite and not
negative, ``idle_suspend_s``, ``max_run_s`` and ``max_uptime_s`` are more than zero and
``archive_after_s`` is not shorter than ``idle_suspend_s``; anything else is refused with one
line naming the setting and where it came from.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from computerouter.domain.gateway import parse_allowlist, parse_gateway_address
from computerouter.domain.limits import CONFIG_FILE_MAX_BYTES, MAX_API_WORKERS
from computerouter.domain.origins import parse_origins
from computerouter.domain.pool import PoolTarget, parse_warm_pool
from computerouter.errors import ConfigError, InputError
from computerouter.inputs import read_bounded_text

__all__ = ["Settings", "coerce_setting"]


def _default_home() -> Path:
    return Path(os.path.expanduser("~")) / ".computerouter"


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    """Data directory: the SQLite database, local sessions, archives, runtime images."""
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``home/computerouter.db``."""
    user: str = "local"
    """The acting user when a command names none (``--user``)."""
    default_provider: str = ""
    """Provider used when a caller names none (a pin); empty: placement picks one by the
    default policy among the configured providers (see :mod:`computerouter.domain.placement`)."""
    region: str = ""
    """The caller's region when a request names none: placement puts each provider in its
    region nearest it (:mod:`computerouter.domain.regions`); empty: unknown."""
    default_runtime: str = "hermes"
    """Runtime a new session starts when neither the caller nor the sandbox's agents name one
    (a pre-warm of a sandbox without agents). ``echo`` is a tiny stand-in for tests."""
    idle_suspend_s: float = 15 * 60
    """Default idle time after which a running session is suspended (per sandbox overridable)."""
    archive_after_s: float = 7 * 24 * 3600
    """Default idle time after which a session is archived (per sandbox overridable)."""
    lifecycle_interval_s: float = 30.0
    """Seconds between two passes of the per-home lifecycle daemon (a pass reconciles with the
    providers, suspends and archives idle sessions, and repairs the ledger)."""
    lifecycle_daemon: bool = True
    """Start the per-home lifecycle daemon on demand when a command leaves a session live, so
    idle sessions suspend and archive by themselves. Off: nothing runs the lifecycle unless
    ``computerouter daemon start`` or ``compute reap`` is run (tests turn it off)."""
    provider_cooldown_s: float = 60.0
    """After a provider fails to create a session (a retryable error), its circuit opens and
    fail-over skips it for this long (or the vendor's Retry-After, if longer), on every
    replica; then one caller probes it."""
    provider_cooldown_max_s: float = 900.0
    """Each failed probe doubles the cool-down, up to this."""
    provider_probe_interval_s: float = 60.0
    """How often the lifecycle pass actively probes each provider and region (one cheap call,
    no session made; at most once per interval across every replica): an open circuit past its
    cool-down closes on success or re-opens for longer on failure, and a closed one opens on
    failure before a user's request meets the outage. 0: no active probes (health is then
    learnt from users' calls only)."""
    lease_s: float = 120.0
    """How long an operation may hold a session in a transitional state before others may
    take over (a crashed owner on this host is detected at once, by its pid)."""
    max_runs_per_user: int = 16
    """Hard cap on one user's runs in flight, across every replica (0: no cap). A run over
    it is refused before any session is touched."""
    max_live_sessions_per_user: int = 64
    """Hard cap on one user's live sessions (one per sandbox), across every replica (0: no
    cap); a new sandbox's first run over it is refused before anything is provisioned."""
    run_heartbeat_s: float = 10.0
    """How often a control plane marks its runs in flight alive (and renews the leases of the
    operations it is doing), so other replicas can tell it has not died."""
    run_stale_after_s: float = 60.0
    """A run in flight not marked alive for this long is ended as abandoned by whichever
    replica's reconciler sees it (its control plane died); its billing stops at its last mark,
    and its session is then free to suspend on schedule."""
    wait_timeout_s: float = 120.0
    """How long ensure_session waits for another caller's operation on the same key."""
    portable_copies: bool = True
    """When a session is archived on a provider that can hand its workspace over, also keep a
    portable copy of it under ``home/workspaces``, so an agent with ``on_provider_down =
    "move"`` can carry on elsewhere while that provider is down (memory included). Replicas
    on several hosts need ``home/workspaces`` on shared storage for that."""
    billing: bool = True
    """Hold credit before each run (refusing runs a user's balance cannot cover) and bill each
    run's token and compute cost to the ledger. Off: runs are neither gated nor billed."""
    prices_file: str = ""
    """Price table and run budget (TOML, see :mod:`computerouter.ledger.prices`); empty means
    ``home/prices.toml``; built-in defaults apply when the file does not exist."""
    images_dir: str = ""
    """Where runtime images (the Hermes virtualenv) are built and cached; empty: home/images."""
    model_base_url: str = ""
    """OpenAI-compatible endpoint behind Hermes (``…/v1``). Empty: the bundled model stand-in
    (a scripted test model, not a real one) on 127.0.0.1:``standin_port``."""
    model_name: str = "standin-model"
    """Model name sent to the endpoint."""
    model_api_key: str = field(default="", repr=False)
    """The endpoint's API key. Added on the host side of the egress bridge; never enters a
    session. Empty: the operator's secret ``model_api_key`` in the secret store, if set
    (``computerouter secrets set model_api_key``)."""
    standin_port: int = 18181
    """Port of the bundled model stand-in when ``model_base_url`` is empty."""
    max_run_s: float = 3600.0
    """Default ceiling on one run's running time: a run still going after this long is stopped
    (``run.failed`` with code ``ceiling``) and billed up to the ceiling, not beyond. An agent's
    ``--max-run`` wins, then its sandbox's (``compute sandboxes set --max-run``)."""
    max_uptime_s: float = 24 * 3600.0
    """Default ceiling on a session's uptime since it last started or resumed: the lifecycle
    pass suspends a session up this long even with runs in flight (it cancels them first), so
    nothing stays up and billed for ever. A sandbox's ``--max-uptime`` wins."""
    egress_allow: str = ""
    """Destinations every session's processes may reach through the egress gateway (its
    ``HTTP_PROXY``/``HTTPS_PROXY``), ``HOST:PORT`` rules separated by commas (see
    :mod:`computerouter.domain.gateway`). The operator's rules may name loopback or private
    addresses and networks; a name never unlocks them. Empty: the gateway refuses everything
    (the model endpoint and the router's own routes do not go through it)."""
    gateway_listen: str = "127.0.0.1:0"
    """Where the router's remote gateway listens (``HOST:PORT``; port 0: a free one, taken when
    the first remote session is made): the only way out of a remote provider's sandbox
    (Daytona, Sprites), whose network allow list names the gateway alone; it stamps the model
    key and each run's MCP bearer there. Give a fixed port when remote sessions outlive the
    process that made them (``serve``). ``off``: no gateway; remote sandboxes then reach
    header-less routes directly, with no MCP host, no egress gateway and no model key."""
    gateway_public_url: str = ""
    """Where remote sandboxes reach the gateway (``[https://]HOST:PORT``; https through a TLS
    terminator in front of ``gateway_listen``). Empty: the address ``gateway_listen`` bound."""
    warm_pool: str = ""
    """Pre-booted sessions each provider keeps per runtime, ``PROVIDER:RUNTIME=SIZE`` entries
    separated by commas (``local:hermes=2``): a new sandbox claims one in milliseconds instead
    of booting its runtime (:mod:`computerouter.compute.pool`). Empty: no pool."""
    restore_pool: str = ""
    """Standbys each provider keeps per runtime for restores, ``PROVIDER:RUNTIME=SIZE`` like
    ``warm_pool``: runtimes started ahead of any workspace, into which an archived session is
    unpacked, so it answers in about an unpack and a warm turn (:mod:`computerouter.compute.pool`).
    Empty: restores start their runtime cold."""
    warm_pool_idle_s: float = 3600.0
    """A pool nobody claimed from for this long shrinks to nothing (refilled at the next claim)."""
    turn_timeout_s: float = 600.0
    """A turn that produces no event for this long is stopped and reported failed."""
    concierge_provider: str = "local"
    """Where each user's Concierge agent runs (a compute provider it is pinned to); empty: the
    ``latency-aware`` policy places it like any agent."""
    api_host: str = "127.0.0.1"
    """Address ``computerouter serve`` binds (every endpoint needs an API key, see ``keys``)."""
    api_port: int = 8321
    """Port ``computerouter serve`` listens on."""
    api_workers: int = 1
    """Worker processes ``computerouter serve`` runs (1 to 64; ``--workers``): each is a
    replica on the one store, under uvicorn's supervisor, which replaces one that dies; the
    lifecycle runs once, in the supervisor. Rate limits (``api_rate_per_s``) are per worker."""
    api_cors_origins: str = ""
    """Origins a browser page may call the API from (CORS), ``scheme://host[:port]`` entries
    separated by commas, or ``*`` for any; requests still need an API key (sent as a header,
    never a cookie). Empty: no CORS headers at all."""
    api_key_pepper: str = field(default="", repr=False)
    """Secret mixed into the hash of every stored API key, so a copy of the database alone
    cannot be used to check guessed keys. Changing it invalidates every key."""
    secrets_kek: str = field(default="", repr=False)
    """Key-encryption keys for secrets at rest, ``ID:KEY`` entries separated by commas, the
    first one current (see :mod:`computerouter.secrets.keyring`); usually given as
    ``COMPUTEROUTER_SECRETS_KEK``. Empty: the key file ``secrets_kek_file``."""
    secrets_kek_file: str = ""
    """File of key-encryption keys (mode 0600, one ``ID:KEY`` per line, the first current);
    empty means ``home/secrets.kek``. Read only when ``secrets_kek`` is empty."""
    api_rate_per_s: float = 50.0
    """Requests per second each API key may make on average (0: no limit); beyond it the
    server answers 429 with ``Retry-After``."""
    api_rate_burst: int = 100
    """Requests an API key may make at once above its average rate."""
    log_format: str = "text"
    """How ``serve`` and the lifecycle daemon write their log lines: ``text`` for a terminal,
    ``json`` (one object per line with the request, run and session ids) for a log shipper."""
    api_access_log: bool = False
    """``serve`` logs one line per request (method, path, status, ms, request id)."""
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The ``[providers.NAME]`` tables of the file: each provider's own settings, read by its
    settings model (:mod:`computerouter.providers.settings`) with its environment variables."""
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The environment these settings were read from (providers read their variables here)."""

    @property
    def sqlite_path(self) -> Path:
        return self.home / "computerouter.db"

    @property
    def warm_pool_targets(self) -> tuple[PoolTarget, ...]:
        return parse_warm_pool(self.warm_pool)

    @property
    def restore_pool_targets(self) -> tuple[PoolTarget, ...]:
        return parse_warm_pool(self.restore_pool)

    @property
    def images_path(self) -> Path:
        return Path(self.images_dir).expanduser() if self.images_dir else self.home / "images"

    @property
    def secrets_kek_path(self) -> Path:
        if self.secrets_kek_file:
            return Path(self.secrets_kek_file).expanduser()
        return self.home / "secrets.kek"

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return parse_origins(self.api_cors_origins)

    @property
    def uses_standin_model(self) -> bool:
        return not self.model_base_url

    @property
    def effective_model_base_url(self) -> str:
        return self.model_base_url or f"http://127.0.0.1:{self.standin_port}/v1"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``config.toml`` in the home, then the environment, then ``overrides``."""
        env = os.environ if env is None else env
        home = Path(overrides.get("home") or env.get("COMPUTEROUTER_HOME") or _default_home())
        values: dict[str, Any] = {"home": home}
        config_file = home / "config.toml"
        if config_file.exists():
            text = read_bounded_text(
                config_file, what="config file", limit=CONFIG_FILE_MAX_BYTES, error=ConfigError
            )
            try:
                file_values = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"cannot read {config_file}: {exc}") from exc
            sections = file_values.pop("providers", {})
            if not isinstance(sections, dict) or not all(
                isinstance(v, dict) for v in sections.values()
            ):
                raise ConfigError(
                    f"setting providers in {config_file} must be tables [providers.NAME]"
                )
            values["providers"] = sections
            values.update(_coerce_all(file_values, source=str(config_file)))
        values["environ"] = dict(env)
        env_values = {
            f.name: env[f"COMPUTEROUTER_{f.name.upper()}"]
            for f in fields(cls)
            if f.name not in _NOT_PLAIN and f"COMPUTEROUTER_{f.name.upper()}" in env
        }
        values.update(_coerce_all(env_values, source="environment"))
        plain = {k: v for k, v in overrides.items() if k not in _NOT_PLAIN}
        values.update({k: v for k, v in overrides.items() if k in _NOT_PLAIN[1:]})
        values.update(_coerce_all(plain, "arguments"))
        settings = replace(cls(), **values)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field rules; each value's own range is checked as it is read."""
        if self.idle_suspend_s <= 0:
            raise ConfigError(
                f"setting idle_suspend_s must be more than 0, not {self.idle_suspend_s:g}"
            )
        if self.archive_after_s < self.idle_suspend_s:
            raise ConfigError(
                f"setting archive_after_s ({self.archive_after_s:g} s) is shorter than "
                f"idle_suspend_s ({self.idle_suspend_s:g} s); a session suspends before it archives"
            )
        for name, value in (("max_run_s", self.max_run_s), ("max_uptime_s", self.max_uptime_s)):
            if value <= 0:
                raise ConfigError(f"setting {name} must be more than 0, not {value:g}")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"setting log_format must be text or json, not {self.log_format!r}")
        try:
            parse_allowlist(self.egress_allow, operator=True)
        except InputError as exc:
            raise ConfigError(f"setting egress_allow: {exc}") from None
        for setting, address in (
            ("gateway_listen", self.gateway_listen),
            ("gateway_public_url", self.gateway_public_url),
        ):
            if not address or (setting == "gateway_listen" and address.strip().lower() == "off"):
                continue
            try:
                parse_gateway_address(address)
            except InputError as exc:
                raise ConfigError(f"setting {setting}: {exc}") from None
        try:
            parse_warm_pool(self.warm_pool)
        except InputError as exc:
            raise ConfigError(f"setting warm_pool: {exc}") from None
        try:
            parse_warm_pool(self.restore_pool)
        except InputError as exc:
            raise ConfigError(f"setting restore_pool: {exc}") from None
        if not 1 <= self.standin_port <= 65_535:
            raise ConfigError(f"setting standin_port must be a TCP port, not {self.standin_port}")
        if not 1 <= self.api_workers <= MAX_API_WORKERS:
            raise ConfigError(
                f"setting api_workers must be 1 to {MAX_API_WORKERS}, not {self.api_workers}"
            )
        try:
            parse_origins(self.api_cors_origins)
        except InputError as exc:
            raise ConfigError(f"setting api_cors_origins: {exc}") from None


_NOT_PLAIN = ("home", "providers", "environ")
"""Fields not read from one variable or top-level key of their own."""
_TYPES = {f.name: f.type for f in fields(Settings) if f.name not in _NOT_PLAIN[1:]}


def _coerce_all(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _TYPES:
            raise ConfigError(f"unknown setting {key!r} in {source}")
        out[key] = _coerce(key, value, source)
    return out


def _coerce(key: str, value: Any, source: str, kind: str | None = None) -> Any:
    kind = kind or str(_TYPES[key])
    try:
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(value)
            number = int(value) if kind == "int" else float(value)
            if not math.isfinite(number) or number < 0:
                raise ConfigError(
                    f"setting {key} from {source} must be a finite number, not negative: {value!r}"
                )
            return number
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"setting {key} from {source} is not a valid {kind}: {value!r}") from exc


def coerce_setting(key: str, value: Any, source: str, kind: str) -> Any:
    """One raw value (a string from the environment, a TOML value) as a setting of type
    ``kind`` (``str``, ``int``, ``float``, ``bool``, ``Path``), or one line naming it."""
    return _coerce(key, value, source, kind)
