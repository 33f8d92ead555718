"""Egress relay: unix socket in a session's socket directory -> one HTTP(S) upstream.

Standard library only; runs on the host (outside the session's namespaces, inside its cgroups)
as the session's unprivileged uid. Usage:

    python3 -I -S relay.py LISTEN_SOCKET  < config.json

config.json: {"upstream": "http://127.0.0.1:8000/v1", "headers": [["Authorization", "Bearer …"]],
"prefix": "/v1", "metered": true, "control": "<abstract socket name>", "controllers": [0]}.
Read from stdin so credentials never appear on a command line or in a file.

Each request's path must lie under ``prefix`` (default: the upstream's path), which is replaced
by the upstream's path; anything else is refused (403). The relay sets Host, replaces the listed
headers (credentials are added here, never inside the session), forces one request per
connection, and streams the response back as it arrives (server-sent events included).

**Control channel.** ``control`` names an abstract unix socket in the host's network namespace,
which the session (in its own) cannot reach; only the uids in ``controllers`` (checked with
SO_PEERCRED) may talk on it. One JSON line in, one out:

- ``{"op": "turn", "upstream", "headers", "model", "budget": {...} | null, "active": [...]}``:
  from now on use
  this endpoint, key and model name (so a changed configuration reaches a live session by its
  next turn), and meter calls against ``budget`` (``run_id``, ``limit`` micro-credits,
  ``input_per_mtok``, ``output_per_mtok``, ``compute_per_ms`` / ``rate_denominator`` and
  ``started_at`` for the run's running time), forgetting runs not in ``active`` (the runs in
  flight on the session);
- ``{"op": "meter", "run_id"}`` / ``{"op": "end", "run_id"}``: what the run spent (and forget it).

**Metering.** A model call (POST to ``…/completions``) is charged its worst case before it goes
out: request bytes as input tokens (a token is at least one byte) plus ``max_tokens``, which is
cut down to what the run's budget has left after its running time; a call the budget cannot
cover is refused (402, ``credit``). The response's ``usage`` then replaces the worst case. With
``metered`` set, model calls outside any run are refused too. Errors name the endpoint's URL,
never its key.

**Per-run credentials.** With ``"per_run": true`` the relay's headers come with each run's
turn (``labels.run`` names the run): the latest run in flight's are stamped on every request,
and ``end`` forgets them, so a run's bearer (its token for the router's MCP host) goes out only
while the run is in flight. The session's own ``Authorization`` is always dropped.

**Gateway.** With ``"gateway": true`` (and ``"allow"``: rules, ``"labels"``: who the session
is) the script is instead a forward proxy to what the rules name (see :class:`Gateway` and
``computerouter.domain.gateway``): its refusals go to stdout, which the launcher points at the
session's gateway log. Its turn may carry ``allow`` (the rules from now on) and ``labels``
(the caller: ``agent``, ``run``, ...); ``meter``/``end`` report a run's refusals.
"""

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import ssl
import struct
import sys
import time
from typing import Any
from urllib.parse import urlsplit

Json = dict[str, Any]

MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024
MAX_LOG = 16 * 1024 * 1024
"""Bytes of refusals a gateway logs per start; past it, one ``egress.log_full`` line."""
DEFAULT_MAX_TOKENS = 65536
HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"}
OURS = {b"host", b"content-length", b"accept-encoding"}


class Upstream:
    def __init__(
        self, url: str, headers: list[list[str]], model: str = "", strip: tuple[str, ...] = ()
    ) -> None:
        up = urlsplit(url)
        if up.scheme not in ("http", "https") or not up.hostname:
            raise ValueError(f"bad upstream {url!r}")
        self.url = url.rstrip("/")
        self.scheme, self.host = up.scheme, up.hostname
        self.port = up.port or (443 if up.scheme == "https" else 80)
        self.path = up.path.rstrip("/")
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self.replaced = {k.lower() for k, _ in self.headers} | OURS | {h.encode() for h in strip}
        self.model = model


class Run:
    def __init__(self, budget: Json) -> None:
        self.run_id = str(budget["run_id"])
        self.limit = int(budget["limit"])
        self.input_per_mtok = int(budget.get("input_per_mtok", 0))
        self.output_per_mtok = int(budget.get("output_per_mtok", 0))
        self.compute_per_ms = int(budget.get("compute_per_ms", 0))
        self.denominator = int(budget.get("rate_denominator", 1)) or 1
        self.started_at = float(budget.get("started_at", time.time()))
        self.spent = self.pending = self.calls = self.refused = 0
        self.input_tokens = self.output_tokens = 0

    def left(self) -> int:
        elapsed_ms = max(0, int((time.time() - self.started_at) * 1000))
        ran = elapsed_ms * self.compute_per_ms // self.denominator
        return self.limit - self.spent - self.pending - ran

    def cost(self, input_tokens: int, output_tokens: int) -> int:
        scaled = input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
        return -(-scaled // 1_000_000)

    def meter(self) -> Json:
        return {
            "run_id": self.run_id,
            "limit": self.limit,
            "spent": self.spent + self.pending,
            "calls": self.calls,
            "refused": self.refused,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class Controlled:
    """Something the control plane reconfigures over the control channel."""

    controllers: set[int]

    def command(self, message: Json) -> Json:
        raise NotImplementedError

    async def on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid not in self.controllers:
                return
            line = await reader.readline()
            try:
                answer = self.command(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"error": f"{exc.__class__.__name__}: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


class Relay(Controlled):
    def __init__(self, config: Json) -> None:
        self.upstream = Upstream(config["upstream"], config.get("headers", []))
        self.prefix = str(config.get("prefix") or self.upstream.path).rstrip("/")
        self.metered = bool(config.get("metered"))
        self.control = config.get("control") or ""
        self.controllers = {int(u) for u in config.get("controllers", [0])}
        self.runs: dict[str, Run] = {}
        self.last_error: Json | None = None
        self.per_run = bool(config.get("per_run"))
        self.credentials: dict[str, list[list[str]]] = {}
        """With ``per_run``: each run in flight's headers, in the order their turns came."""
        if self.per_run:
            self.upstream = Upstream(config["upstream"], [], strip=("authorization",))

    # -- the control channel ------------------------------------------------------------------

    def command(self, message: Json) -> Json:
        if self.per_run:
            return self.credential_command(message)
        op = message.get("op")
        if op == "turn":
            self.upstream = Upstream(
                message["upstream"], message.get("headers", []), str(message.get("model") or "")
            )
            self.last_error = None
            if "active" in message:  # runs no longer in flight (their owner died) spend no more
                active = set(message["active"])
                self.runs = {k: v for k, v in self.runs.items() if k in active}
            budget = message.get("budget")
            if budget:
                run = Run(budget)
                old = self.runs.get(run.run_id)
                if old is not None:
                    run.spent, run.calls, run.refused = old.spent, old.calls, old.refused
                self.runs[run.run_id] = run
            return {"ok": True}
        if op in ("meter", "end"):
            ended = self.runs.pop(message["run_id"], None) if op == "end" else None
            found = ended or self.runs.get(message["run_id"])
            out = found.meter() if found is not None else {"run_id": message["run_id"]}
            out["last_error"] = self.last_error
            out["upstream"] = self.upstream.url
            return out
        return {"error": f"unknown op {op!r}"}

    def credential_command(self, message: Json) -> Json:
        """A ``per_run`` route: a turn brings one run's headers (its bearer), used while it is
        the latest run in flight; ``end`` forgets them. With no run in flight, none is sent."""
        op = message.get("op")
        run_id = str(dict(message.get("labels", {})).get("run") or message.get("run_id") or "")
        if op == "turn":
            if "active" in message:
                active = set(message["active"]) | {run_id}
                self.credentials = {k: v for k, v in self.credentials.items() if k in active}
            if run_id:
                self.credentials.pop(run_id, None)
                self.credentials[run_id] = [list(h) for h in message.get("headers", [])]
            url = str(message.get("upstream") or self.upstream.url)
        elif op in ("meter", "end"):
            if op == "end":
                self.credentials.pop(run_id, None)
            url = self.upstream.url
        else:
            return {"error": f"unknown op {op!r}"}
        latest = list(self.credentials.values())[-1] if self.credentials else []
        self.upstream = Upstream(url, latest, strip=("authorization",))
        return {"run_id": run_id, "upstream": self.upstream.url} if op != "turn" else {"ok": True}

    # -- the data path ------------------------------------------------------------------------

    def charge(self, path: str, body: bytes) -> tuple["Run | None", int, bytes]:
        """(run, reserved, body) for a model call; raises Refused when it cannot be paid."""
        if not path.split("?", 1)[0].endswith("/completions"):
            return None, 0, body
        if not self.runs:
            if self.metered:
                raise Refused(402, "no run in flight holds credit for this model call")
            return None, 0, self.rewrite(body, None)
        run = max(self.runs.values(), key=Run.left)
        left = run.left()
        input_cost = run.cost(len(body), 0)
        room = left - input_cost
        allowed = DEFAULT_MAX_TOKENS
        if run.output_per_mtok:
            allowed = room * 1_000_000 // run.output_per_mtok
        if room < 0 or allowed < 1:
            run.refused += 1
            raise Refused(
                402,
                f"run {run.run_id} has spent its credit hold ({run.limit} micro-credits): "
                "this model call could cost more than is left",
            )
        body = self.rewrite(body, allowed)
        try:
            wanted = json.loads(body).get("max_tokens") or allowed
        except ValueError:
            wanted = allowed
        reserved = run.cost(len(body), int(wanted))
        run.pending += reserved
        run.calls += 1
        return run, reserved, body

    def rewrite(self, body: bytes, allowed: int | None) -> bytes:
        try:
            payload = json.loads(body)
        except ValueError:
            raise Refused(400, "a model call must carry a JSON body") from None
        if not isinstance(payload, dict):
            raise Refused(400, "a model call must carry a JSON object")
        if self.upstream.model:
            payload["model"] = self.upstream.model
        if allowed is not None:
            for key in ("max_tokens", "max_completion_tokens"):
                if key in payload:
                    asked = payload[key] if isinstance(payload[key], int) else allowed
                    payload[key] = max(1, min(asked, allowed))
            if "max_tokens" not in payload and "max_completion_tokens" not in payload:
                payload["max_tokens"] = min(allowed, DEFAULT_MAX_TOKENS)
        return json.dumps(payload).encode()

    def settle(self, run: "Run | None", reserved: int, usage: Json | None) -> None:
        if run is None:
            return
        run.pending -= reserved
        if usage is None:
            run.spent += reserved  # no usage reported: the worst case stands
            return
        used_in = int(usage.get("prompt_tokens") or 0)
        used_out = int(usage.get("completion_tokens") or 0)
        run.input_tokens += used_in
        run.output_tokens += used_out
        run.spent += run.cost(used_in, used_out)

    def failed(self, message: str) -> None:
        self.last_error = {"url": self.upstream.url, "message": message}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        run, reserved, usage = None, 0, None
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            up = self.upstream  # this request goes where the configuration said when it came
            method, path, kept, length = parse_head(head, up)
            if not (path == self.prefix or path.startswith(self.prefix + "/") or not self.prefix):
                raise Refused(403, "path outside the allowed upstream")
            if length > MAX_BODY:
                raise Refused(413, "request body too large")
            body = await reader.readexactly(length) if length else b""
            if method == b"POST":
                run, reserved, body = self.charge(path, body)
            upstream_path = up.path + path[len(self.prefix) :]
            out = [b"%s %s HTTP/1.1" % (method, upstream_path.encode("latin-1")), *kept]
            host = up.host.encode()
            out.append(b"Host: " + (host if up.port in (80, 443) else b"%s:%d" % (host, up.port)))
            out.extend(k + b": " + v for k, v in up.headers)
            out += [b"Accept-Encoding: identity", b"Connection: close"]
            if body or method in (b"POST", b"PUT", b"PATCH"):
                out.append(b"Content-Length: %d" % len(body))
            scan = await self.forward(up, b"\r\n".join(out) + b"\r\n\r\n" + body, writer)
            usage = scan.usage()
            if scan.status >= 400 and path.endswith("/completions"):
                self.failed(f"model endpoint {up.url} answered HTTP {scan.status}")
        except Refused as refused:
            if refused.status == 502:  # it never reached the endpoint: nothing was spent
                usage = {"prompt_tokens": 0, "completion_tokens": 0}
            kind = "credit" if refused.status == 402 else "egress_refused"
            await reply(writer, refused.status, refused.message, kind=kind)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            pass
        finally:
            self.settle(run, reserved, usage)
            writer.close()

    async def forward(
        self, up: Upstream, request: bytes, writer: asyncio.StreamWriter
    ) -> "Scanner":
        try:
            context = ssl.create_default_context() if up.scheme == "https" else None
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(up.host, up.port, ssl=context), timeout=10
            )
        except (TimeoutError, OSError) as exc:
            message = f"upstream unreachable: model endpoint {up.url}: {exc.__class__.__name__}"
            self.failed(message)
            raise Refused(502, message) from None
        up_writer.write(request)
        await up_writer.drain()
        scan = Scanner()
        while True:
            chunk = await up_reader.read(65536)
            if not chunk:
                break
            scan.feed(chunk)
            writer.write(chunk)
            await writer.drain()
        up_writer.close()
        return scan


def parse_head(head: bytes, up: Upstream) -> tuple[bytes, str, list[bytes], int]:
    """(method, path, headers kept, body length) of a request head."""
    lines = head[:-4].split(b"\r\n")
    method, _, rest = lines[0].partition(b" ")
    target, _, _version = rest.partition(b" ")
    kept, length = [], 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"transfer-encoding":
            raise Refused(411, "send a Content-Length")
        if key == b"content-length":
            length = int(value.strip() or b"0")
        if key in HOP or key in up.replaced:
            continue
        kept.append(line)
    return method, target.decode("latin-1"), kept, length


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Scanner:
    """Reads a response as it streams by: its status, and the last ``usage`` in its body
    (a JSON body, or server-sent events), through chunked transfer encoding if used."""

    def __init__(self) -> None:
        self.status = 0
        self.raw = b""
        self.head: bytes | None = None
        self.chunked = False
        self.body = bytearray()
        self.pending = b""

    def feed(self, data: bytes) -> None:
        if self.head is None:
            self.raw += data
            if b"\r\n\r\n" not in self.raw:
                return
            self.head, _, data = self.raw.partition(b"\r\n\r\n")
            status_line, *headers = self.head.split(b"\r\n")
            parts = status_line.split(b" ")
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.chunked = any(
                h.lower().startswith(b"transfer-encoding:") and b"chunked" in h.lower()
                for h in headers
            )
        if not self.chunked:
            self.body += data[: MAX_BODY - len(self.body)]
            return
        self.pending += data
        while True:
            size_line, sep, rest = self.pending.partition(b"\r\n")
            if not sep:
                return
            try:
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.chunked = False
                return
            if size == 0 or len(rest) < size + 2:
                return
            if len(self.body) < MAX_BODY:
                self.body += rest[:size]
            self.pending = rest[size + 2 :]

    def usage(self) -> Json | None:
        text = bytes(self.body).strip()
        found: Json | None = None
        candidates = [text] if text.startswith(b"{") else []
        candidates += [ln[5:].strip() for ln in text.split(b"\n") if ln.startswith(b"data:")]
        for candidate in candidates:
            if not candidate.startswith(b"{"):
                continue
            with contextlib.suppress(ValueError):
                usage = json.loads(candidate).get("usage")
                if isinstance(usage, dict):
                    found = usage
        return found


IP = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
SHARED = ipaddress.ip_network("100.64.0.0/10")


class Rule:
    """One allowlist rule (``computerouter.domain.gateway.AllowRule.as_json``)."""

    def __init__(self, raw: Json) -> None:
        self.host = str(raw.get("host") or "")
        self.network = ipaddress.ip_network(raw["network"]) if raw.get("network") else None
        self.low, self.high = int(raw.get("low", 1)), int(raw.get("high", 65535))
        self.operator = bool(raw.get("operator"))

    def names(self, host: str, port: int) -> bool:
        if not self.low <= port <= self.high or self.network is not None:
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def holds(self, address: IP, port: int) -> bool:
        return (
            self.network is not None
            and self.low <= port <= self.high
            and address.version == self.network.version
            and address in self.network
        )


def refused_range(address: IP) -> str:
    """Why ``address`` is not for a session to reach on its own ('' if it may be)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_range(address.ipv4_mapped)
    if address in METADATA:
        return "the cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast:
        return "an unroutable address"
    if address.is_private or (address.version == 4 and address in SHARED):
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return ""


class Gateway(Controlled):
    """An HTTP forward proxy to the destinations the allowlist names, and to nothing else.

    A request is ``CONNECT host:port`` (a TLS tunnel: the gateway never sees inside) or an
    absolute-URI ``http://`` request. The gateway checks the name against the rules before
    any DNS lookup, resolves it here, checks every address it got and connects to the first
    one allowed (never to a name, so DNS rebinding gains nothing). Each refusal is one JSON
    line on stdout (the session's gateway log) naming the session, sandbox, agent and run."""

    def __init__(self, config: Json) -> None:
        self.rules = [Rule(r) for r in config.get("allow", [])]
        self.labels = {str(k): str(v) for k, v in dict(config.get("labels", {})).items()}
        self.control = config.get("control") or ""
        self.controllers = {int(u) for u in config.get("controllers", [0])}
        self.runs: dict[str, dict[str, str]] = {}
        """Labels of the runs in flight, by run id, in the order their turns came."""
        self.run_rules: dict[str, list[Rule]] = {}
        """Rules a run in flight brought (its agent's): allowed while it is in flight."""
        self.refusals: dict[str, int] = {}
        self.logged = 0

    def command(self, message: Json) -> Json:
        op = message.get("op")
        if op == "turn":
            labels = {str(k): str(v) for k, v in dict(message.get("labels", {})).items()}
            run_id = labels.get("run", "")
            if "allow" in message:
                rules = [Rule(r) for r in message["allow"]]
                if run_id:
                    self.run_rules[run_id] = rules
                else:
                    self.rules = rules
            if "active" in message:
                active = set(message["active"]) | ({run_id} if run_id else set())
                self.runs = {k: v for k, v in self.runs.items() if k in active}
                self.run_rules = {k: v for k, v in self.run_rules.items() if k in active}
            if run_id:
                self.runs.pop(run_id, None)
                self.runs[run_id] = labels
            return {"ok": True}
        if op in ("meter", "end"):
            run_id = str(message["run_id"])
            if op == "end":
                self.runs.pop(run_id, None)
                self.run_rules.pop(run_id, None)
                return {"run_id": run_id, "refused": self.refusals.pop(run_id, 0)}
            return {"run_id": run_id, "refused": self.refusals.get(run_id, 0)}
        return {"error": f"unknown op {op!r}"}

    def log_refusal(self, method: str, host: str, port: int, reason: str) -> None:
        line: Json = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": "egress.refused",
            "method": method,
            "destination": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "reason": reason,
        }
        line.update(self.labels)
        runs = list(self.runs)
        if runs:
            line.update(self.runs[runs[-1]])
            if len(runs) > 1:
                line["runs_in_flight"] = runs
        for run_id in runs:
            self.refusals[run_id] = self.refusals.get(run_id, 0) + 1
        text = json.dumps(line) + "\n"
        if self.logged + len(text) > MAX_LOG:
            if self.logged >= MAX_LOG:
                return  # a session cannot fill the host's disk by asking again and again
            text = json.dumps({"ts": line["ts"], "event": "egress.log_full", **self.labels})
            text += "\n"
            self.logged = MAX_LOG
        else:
            self.logged += len(text)
        self.emit(text)

    def emit(self, text: str) -> None:
        """Write one log line (stdout: the session's gateway log)."""
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write(text)
            sys.stdout.flush()

    async def permitted(self, host: str, port: int) -> IP:
        """The address to connect to for ``host:port``; raises Refused (logged by the caller)."""
        try:
            literal: IP | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        rules = [*self.rules, *(r for rules in self.run_rules.values() for r in rules)]
        named = any(rule.names(host.lower(), port) for rule in rules)
        if literal is not None:
            addresses = [literal]
        else:
            if not named:
                raise Refused(403, f"{host}:{port} is not on this session's egress allowlist")
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except (OSError, UnicodeError):
                raise Refused(502, f"{host} does not resolve") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        why = ""
        for address in addresses:
            held = [rule for rule in rules if rule.holds(address, port)]
            why = refused_range(address)
            if why:
                if any(rule.operator for rule in held):
                    return address
                continue
            if named or held:
                return address
            why = "not on this session's egress allowlist"
        shown = f"{host}:{port}" if literal is not None else f"{host}:{port} ({addresses[-1]})"
        raise Refused(403, f"{shown} is {why}")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method, host, port = "", "", 0
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head[:-4].split(b"\r\n")
            parts = lines[0].decode("latin-1").split(" ")
            if len(parts) != 3:
                raise Refused(400, "not an HTTP request")
            method, target, _version = parts
            if method == "CONNECT":
                host, port = split_hostport(target, 443)
            else:
                url = urlsplit(target)
                if url.scheme != "http" or not url.hostname:
                    raise Refused(400, "send http:// requests as absolute URIs, https via CONNECT")
                host, port = url.hostname, url.port or 80
            address = await self.permitted(host, port)
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(str(address), port), timeout=10
                )
            except (TimeoutError, OSError) as exc:
                raise Refused(502, f"{host}:{port} unreachable: {exc.__class__.__name__}") from None
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
            else:
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                out = [f"{method} {path} HTTP/1.1".encode("latin-1")]
                for line in lines[1:]:
                    key = line.partition(b":")[0].strip().lower()
                    if key not in HOP and not key.startswith(b"proxy-"):
                        out.append(line)
                out.append(b"Connection: close")
                up_writer.write(b"\r\n".join(out) + b"\r\n\r\n")
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except Refused as refused:
            if host and refused.status == 403:
                self.log_refusal(method, host, port, refused.message)
            with contextlib.suppress(ConnectionError, OSError):
                await reply(writer, refused.status, refused.message)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            pass
        finally:
            writer.close()


def split_hostport(target: str, default: int) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or "]" in port:
        host, port = target, str(default)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Refused(400, f"bad proxy target {target!r}")
    return host, int(port)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def reply(
    writer: asyncio.StreamWriter, status: int, text: str, kind: str = "egress_refused"
) -> None:
    body = json.dumps({"error": {"message": text, "type": kind, "code": kind}}).encode()
    reason = {
        400: b"Bad Request",
        402: b"Payment Required",
        403: b"Forbidden",
        411: b"Length Required",
        413: b"Content Too Large",
        502: b"Bad Gateway",
    }.get(status, b"Refused")
    writer.write(
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % (status, reason, len(body)) + body
    )
    await writer.drain()


async def main(path: str) -> None:
    try:
        config = json.loads(sys.stdin.read())
        relay: Relay | Gateway = Gateway(config) if config.get("gateway") else Relay(config)
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"relay: bad configuration: {exc}") from None
    servers = []
    if relay.control:
        # Abstract: in the host's network namespace only, no file the session could reach.
        # Bound first, so it answers by the time the session's socket appears.
        servers.append(await asyncio.start_unix_server(relay.on_control, path="\0" + relay.control))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    servers.append(await asyncio.start_unix_server(relay.handle, path=path, limit=MAX_HEAD))
    os.chmod(path, 0o600)
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(server)
        await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
