"""The ``hermes`` runtime: Nous Research's Hermes agent, headless, in a compute session.

Inside the session (no network but loopback) three things run, started by one command:

- Hermes's gateway with only its OpenAI-compatible API server, on 127.0.0.1:8642 — it binds
  TCP only, so
- the session bridge relays the session's unix socket to it, and relays 127.0.0.1:18080 to the
  ``model`` egress socket, which the provider relays on the host side to the configured model
  endpoint, adding the API key there (Hermes is configured with a dummy key). Hermes always
  calls ``/v1``; the relay maps it to the endpoint's path, and each turn tells the relay the
  current endpoint, key and model (:meth:`HermesRuntime.model_egress`), so a changed
  configuration reaches a live session by its next turn;
- every other way out is the egress gateway: ``HTTP_PROXY``/``HTTPS_PROXY`` name
  127.0.0.1:18089, which the bridge relays to the ``gateway`` route, a forward proxy on the
  host side that lets through only what the operator's ``egress_allow`` names and logs every
  refusal with the run (each turn tells it who is calling, :meth:`HermesRuntime.gateway_egress`);
- the router's MCP host: Hermes's ``mcp_servers`` names 127.0.0.1:18081, which the bridge
  relays to the ``mcp`` route, relayed on the host side to the control plane's MCP host. The
  config holds no secret: each run's own token is stamped on the way out while the run is in
  flight (:meth:`HermesRuntime.mcp_egress`, see :mod:`computerouter.agents.run_token`);
- ``HERMES_HOME`` is ``/workspace/.hermes``: its memory and state databases live in the
  workspace, so they survive suspend, archive and restore and move with the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from urllib.parse import urlsplit

import httpx

from computerouter.domain.egress import EgressTurn
from computerouter.domain.gateway import AllowRule
from computerouter.domain.run_tokens import MCP_HOST
from computerouter.domain.values import EgressRoute, FileSpec, LaunchSpec
from computerouter.errors import RuntimeFailure
from computerouter.runtimes.base import EventContext, TurnRequest
from computerouter.runtimes.hermes.image import MOUNT_POINT, HermesImage
from computerouter.runtimes.hermes.turn import HermesTurn, conversation_history
from computerouter.secrets import RouterSecret

__all__ = ["HermesRuntime", "ModelEndpoint"]

HERMES_PORT = 8642
EGRESS_PORT = 18080
HERMES_HOME = "/workspace/.hermes"
HERMES_LOGS = ".hermes/logs"
"""Where Hermes writes its logs, relative to the workspace."""
HERMES_LOG_NAMES = ("gateway.log", "agent.log", "errors.log")
# Hermes wants a non-placeholder model key; the real one is added outside the session.
SANDBOX_MODEL_KEY = "sk-egress-bridge-supplies-the-real-key"
# The path Hermes calls inside the session; the relay maps it to the endpoint's own path.
SESSION_MODEL_PATH = "/v1"
MODEL_ROUTE = "model"
WARM_UP_CONVERSATION = "computerouter-warm-up"
PREVIOUS_GATEWAY_FILES = ("gateway.pid", "gateway.lock", "gateway-starts.log")
"""What a (re)started session's Hermes forgets of the gateway processes before it: all gone
(the instance was stopped, or archived), yet their pid could name another live process here,
and their start times, more than five in two minutes, make Hermes's respawn-storm breaker
wait 10 s, 20 s, 40 s... before it starts (a session restored often is not a crash loop)."""
STANDBY_PATH = "/standby"
STANDBY_CONFIG = "HERMES_CONFIG_YAML"
"""The go key that carries the config (the launcher writes it as ``config.yaml``, not into the
environment)."""
"""What a standby Hermes answers while it waits for its workspace."""
_STANDBY_KEY = "standby-no-session-key-yet"
"""The key a standby starts with: replaced at go, before Hermes's API server starts."""
GATEWAY_ROUTE = "gateway"
GATEWAY_PORT = 18089
MCP_ROUTE = "mcp"
MCP_PORT = 18081
MCP_SERVER = "computerouter"
"""The name Hermes knows the router's MCP host by: its tools are ``mcp__computerouter__<tool>``."""
MCP_PATH = "/mcp"
_NO_MCP_HOST = "http://127.0.0.1:9/mcp"
"""Where the ``mcp`` route points before any MCP host was attached (nothing answers)."""
_PROXY = f"http://127.0.0.1:{GATEWAY_PORT}"
_NO_PROXY = "127.0.0.1,localhost,::1"
"""The session's own loopback (Hermes's model and MCP routes) is not proxied."""


class ModelEndpoint:
    """Where Hermes's model calls go, outside the session."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "") -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RuntimeFailure(
                f"model base URL must be http(s)://host[:port]/path, not {base_url!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key

    def __repr__(self) -> str:
        return f"ModelEndpoint(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def path(self) -> str:
        return urlsplit(self.base_url).path.rstrip("/")


def _config_yaml(model: ModelEndpoint, *, mcp: bool) -> str:
    base = f"http://127.0.0.1:{EGRESS_PORT}{SESSION_MODEL_PATH}"
    servers = (
        (
            "mcp_servers:\n"
            f"  {MCP_SERVER}:\n"
            f"    url: http://127.0.0.1:{MCP_PORT}{MCP_PATH}\n"
            "    timeout: 60\n"
            "    connect_timeout: 30\n"
            "    skip_preflight: true\n"
        )
        if mcp
        else ""
    )
    return (
        "# Written by computerouter at every session start; edits here are replaced.\n"
        "model:\n"
        "  provider: custom\n"
        f"  base_url: {base}\n"
        f"  api_key: {SANDBOX_MODEL_KEY}\n"
        f"  default: {model.model}\n"
        "terminal:\n"
        "  cwd: /workspace\n"
        "agent:\n"
        "  api_max_retries: 1\n"
        f"{servers}"
    )


class HermesRuntime:
    """Hermes in a session. ``name`` and ``mcp_audience`` make the Concierge's runtime
    (``concierge``, ``operator``): the same Hermes, whose MCP server is the operator's
    operations instead of the router's MCP host."""

    def __init__(
        self,
        *,
        name: str = "hermes",
        mcp_audience: str = MCP_HOST,
        image: HermesImage,
        model: ModelEndpoint,
        secret: RouterSecret,
        turn_timeout_s: float = 600.0,
        metered: bool = False,
        egress_allow: tuple[AllowRule, ...] = (),
    ) -> None:
        self.name = name
        self.mcp_audience = mcp_audience
        self.image = image
        self.model = model
        self._secret = secret
        self._turn_timeout_s = turn_timeout_s
        self._metered = metered
        self._egress_allow = egress_allow
        self._mcp_host: Callable[[], str] | None = None

    def attach_mcp_host(self, url: Callable[[], str]) -> None:
        """Sessions launched from now on reach the router's MCP host at ``url()``."""
        self._mcp_host = url

    def has_mcp_host(self) -> bool:
        return self._mcp_host is not None

    def _mcp_url(self) -> str:
        return _NO_MCP_HOST if self._mcp_host is None else self._mcp_host()

    def api_key(self, session_id: str) -> str:
        """Hermes's own API key for one session (required by Hermes even on loopback)."""
        return self._secret.derive("hermes-api", session_id)

    def launch_spec(self, *, session_id: str) -> LaunchSpec:
        python = f"{MOUNT_POINT}/bin/python"
        forget = " ".join(f"{HERMES_HOME}/{name}" for name in PREVIOUS_GATEWAY_FILES)
        start = (
            f"mkdir -p {HERMES_HOME} && rm -f {forget} && "
            f"cp {{runtime_dir}}/hermes-config.yaml {HERMES_HOME}/config.yaml && "
            f"exec {python} -I {{runtime_dir}}/bridge.py -- "
            f"{python} -m hermes_cli.main gateway run --replace"
        )
        return self._launch(
            start, key=self.api_key(session_id), session_id=session_id, mcp=self.has_mcp_host()
        )

    def standby_launch_spec(self) -> LaunchSpec:
        """Hermes imported ahead of its workspace (:mod:`.standby_launcher`): it opens
        ``HERMES_HOME`` only once a restore has unpacked the workspace and said go."""
        python = f"{MOUNT_POINT}/bin/python"
        start = (
            f"exec {python} -I {{runtime_dir}}/bridge.py -- {python} -I "
            f"{{runtime_dir}}/standby_launcher.py {{runtime_dir}}/hermes-config.yaml"
        )
        # Nothing here depends on the process that boots it (the config and the MCP host come
        # at go and with each run), so every control plane can take the standbys another made.
        spec = self._launch(start, key=_STANDBY_KEY, session_id="", mcp=None)
        launcher = FileSpec(name="standby_launcher.py", content=_standby_source())
        return replace(spec, files=(*spec.files, launcher), health_path=STANDBY_PATH)

    def standby_start(self, session_id: str) -> dict[str, str]:
        """What a standby Hermes is told at go: the restored session's own key, and the config
        a session started now would be given."""
        return {
            "API_SERVER_KEY": self.api_key(session_id),
            STANDBY_CONFIG: _config_yaml(self.model, mcp=self.has_mcp_host()),
        }

    def standby_egress(self) -> tuple[tuple[str, EgressTurn], ...]:
        """The MCP route at this control plane's MCP host: Hermes connects to it as it starts
        (and retries for seconds where nothing answers)."""
        return ((MCP_ROUTE, EgressTurn(upstream=self._mcp_url())),)

    def _launch(self, start: str, *, key: str, session_id: str, mcp: bool | None) -> LaunchSpec:
        """``mcp``: whether the config names the router's MCP host; None: a standby's (the
        config and the MCP host come later)."""
        self.image.ensure()
        return LaunchSpec(
            runtime=self.name,
            argv=("/bin/sh", "-c", start),
            env=(
                ("HERMES_HOME", HERMES_HOME),
                ("API_SERVER_ENABLED", "true"),
                ("API_SERVER_KEY", key),
                ("API_SERVER_HOST", "127.0.0.1"),
                ("API_SERVER_PORT", str(HERMES_PORT)),
                ("TIRITH_ENABLED", "false"),
                ("BRIDGE_TARGET_PORT", str(HERMES_PORT)),
                (
                    "BRIDGE_EGRESS",
                    f"{EGRESS_PORT}={MODEL_ROUTE},{MCP_PORT}={MCP_ROUTE},"
                    f"{GATEWAY_PORT}={GATEWAY_ROUTE}",
                ),
                *_proxy_env(),
            ),
            files=(
                FileSpec(name="bridge.py", content=_bridge_source()),
                FileSpec(
                    name="hermes-config.yaml",
                    content=_config_yaml(self.model, mcp=bool(mcp)).encode(),
                ),
            ),
            image=self.image.runtime_image(),
            egress=(
                EgressRoute(
                    name=MODEL_ROUTE,
                    upstream=self.model.base_url,
                    headers=self._model_headers(),
                    prefix=SESSION_MODEL_PATH,
                    metered=self._metered,
                ),
                EgressRoute(
                    name=MCP_ROUTE,
                    upstream=_NO_MCP_HOST if mcp is None else self._mcp_url(),
                    per_run=True,
                ),
                EgressRoute(
                    name=GATEWAY_ROUTE,
                    upstream="",
                    gateway=True,
                    allow=self._egress_allow,
                    labels=(("session", session_id),),
                ),
            ),
            health_path="/health",
            start_timeout_s=90.0,
            log_files=tuple(f"{HERMES_LOGS}/{name}" for name in HERMES_LOG_NAMES),
        )

    def _model_headers(self) -> tuple[tuple[str, str], ...]:
        if not self.model.api_key:
            return ()
        return (("Authorization", f"Bearer {self.model.api_key}"),)

    def model_egress(self) -> tuple[str, EgressTurn]:
        """The egress route of model calls, and the endpoint it must use now."""
        return MODEL_ROUTE, EgressTurn(
            upstream=self.model.base_url, headers=self._model_headers(), model=self.model.model
        )

    def gateway_egress(
        self, labels: tuple[tuple[str, str], ...], extra: tuple[AllowRule, ...] = ()
    ) -> tuple[str, EgressTurn]:
        """The gateway route and its turn: the operator's allowlist and ``extra`` (the
        agent's), and who is calling."""
        allow = (*self._egress_allow, *extra)
        return GATEWAY_ROUTE, EgressTurn(upstream="", allow=allow, labels=labels)

    def mcp_egress(self, token: str, *, run_id: str) -> tuple[str, EgressTurn]:
        """The MCP route and its turn: the MCP host's URL now, and ``token`` as the bearer
        of ``run_id`` while it is in flight."""
        return MCP_ROUTE, EgressTurn(
            upstream=self._mcp_url(),
            headers=(("Authorization", f"Bearer {token}"),),
            labels=(("run", run_id),),
        )

    def warm_up(self, client: httpx.Client) -> None:
        """Hermes's lazy first-use set-up (its agent modules, its session database) is done by
        its first run: one run, in a conversation of its own, whose model call goes nowhere
        (the warm pool points the model route away first); then that conversation is deleted,
        so the session that claims this Hermes finds no conversation in it."""
        context = EventContext(run_id="warm-up", agent_id="", sandbox_id="", user_id="")
        request = TurnRequest(run_id="warm-up", input="warm up", conversation=WARM_UP_CONVERSATION)
        turn = HermesTurn(client, request, context, model=self.model.model, turn_timeout_s=120.0)
        for _ in turn.events():
            pass
        try:
            response = client.delete(f"/api/sessions/{WARM_UP_CONVERSATION}")
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"Hermes did not forget its warm-up: {exc}") from exc
        if response.status_code not in (200, 204, 404):
            raise RuntimeFailure(f"Hermes warm-up clean-up: HTTP {response.status_code}")

    def check(self, client: httpx.Client) -> None:
        try:
            response = client.get("/health", timeout=5.0)
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"Hermes did not answer: {exc}") from exc
        if response.status_code != 200:
            raise RuntimeFailure(f"Hermes health returned HTTP {response.status_code}")

    def headers(self, session_id: str) -> dict[str, str]:
        """What a client must send to this runtime in ``session_id``."""
        return {"Authorization": f"Bearer {self.api_key(session_id)}"}

    def prepare_turn(self, client: httpx.Client, request: TurnRequest) -> TurnRequest:
        """The conversation so far, read from Hermes's own store in the session (Hermes does
        not load it for ``/v1/runs``), while the router configures the turn's routes."""
        if not request.conversation or request.history is not None:
            return request
        return replace(request, history=conversation_history(client, request.conversation))

    def start_turn(
        self, client: httpx.Client, request: TurnRequest, context: EventContext
    ) -> HermesTurn:
        return HermesTurn(
            client, request, context, model=self.model.model, turn_timeout_s=self._turn_timeout_s
        )


def _proxy_env() -> tuple[tuple[str, str], ...]:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return (
        *((name, _PROXY) for name in names),
        ("NO_PROXY", _NO_PROXY),
        ("no_proxy", _NO_PROXY),
    )


def _standby_source() -> bytes:
    return (
        resources.files("computerouter.runtimes.hermes")
        .joinpath("standby_launcher.py")
        .read_bytes()
    )


def _bridge_source() -> bytes:
    return resources.files("computerouter.runtimes").joinpath("bridge.py").read_bytes()
