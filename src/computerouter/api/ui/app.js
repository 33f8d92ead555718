// The ComputeRouter dashboard: every call is the tenant-scoped REST API with the key pasted at
// login (kept in sessionStorage, sent as Authorization: Bearer). Data is always written with
// textContent, never as HTML.
"use strict";

const KEY = "computerouter.key";
const ACT_FOR = "computerouter.actFor";
const POLL_MS = 1000;
const PAGES = ["sessions", "providers", "spend", "runs", "switches"];
const MICRO = 1000000;

const state = {
  key: sessionStorage.getItem(KEY),
  me: null,
  page: "sessions",
  busy: false,
  agents: new Map(),
  timeline: null, // {runId, controller}
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.key}` };
  const actFor = sessionStorage.getItem(ACT_FOR);
  if (state.me && state.me.admin && actFor) headers["X-Computerouter-User"] = actFor;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  if (options.raw) return response;
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || { code: "error", message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return data;
}

// -- formatting -----------------------------------------------------------------------------

// Micro-credits as credits: every significant digit, at least two places (like the CLI).
function credits(micro) {
  const sign = micro < 0 ? "-" : "";
  const abs = Math.round(Math.abs(micro));
  const whole = Math.floor(abs / MICRO);
  const frac = String(abs % MICRO).padStart(6, "0").replace(/0+$/, "").padEnd(2, "0");
  return `${sign}${whole.toLocaleString("en-US")}.${frac}`;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function clock(epoch) {
  const d = new Date(epoch * 1000);
  return d.toISOString().slice(11, 19);
}

function moment(epoch) {
  return new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19);
}

function now() {
  return Date.now() / 1000;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(cells, attrs = {}) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs)) tr.dataset[k] = v;
  for (const c of cells) tr.appendChild(typeof c === "string" ? cell(c) : c);
  return tr;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  const td = document.createElement("td");
  td.appendChild(b);
  return td;
}

function agentName(agentId, sandboxId) {
  if (!agentId) return sandboxId ? `${sandboxId} (idle)` : "-";
  return state.agents.get(agentId) || agentId;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "dim";
}

// -- pages ----------------------------------------------------------------------------------

async function loadAgents() {
  const agents = await api("/v1/agents");
  state.agents = new Map(agents.map((a) => [a.id, a.address]));
}

async function refreshSessions() {
  const all = $("all-sessions").checked;
  const sessions = await api(`/v1/compute/sessions${all ? "?all=true" : ""}`);
  const t = now();
  const body = $("sessions-body");
  body.replaceChildren(
    ...sessions.map((s) => {
      const action =
        s.state === "running"
          ? button("Suspend", () => act(`/v1/compute/sessions/${s.id}/suspend`))
          : s.state === "suspended" || s.state === "archived"
            ? button("Resume", () => act(`/v1/compute/sessions/${s.id}/resume`))
            : cell("");
      return row(
        [
          s.id,
          s.sandbox_id,
          cell(s.state, `state state-${s.state}`),
          s.provider,
          s.region || "-",
          s.runtime,
          agentName(s.agent_id, ""),
          cell(s.state === "destroyed" ? "-" : duration(t - s.last_active_at), "num"),
          cell(duration(t - s.created_at), "num"),
          action,
        ],
        { session: s.id, state: s.state },
      );
    }),
  );
  $("sessions-empty").hidden = sessions.length > 0;
}

async function act(path) {
  try {
    await api(path, { method: "POST" });
    setStatus(`done: ${path}`);
  } catch (e) {
    setStatus(e.message, true);
  }
  await refresh();
}

async function refreshProviders() {
  const providers = await api("/v1/providers");
  $("providers-body").replaceChildren(
    ...providers.map((p) => {
      const circuits = p.circuits.length
        ? p.circuits.map((c) => `${c.region || "all"}: ${c.state}${c.failures ? ` (${c.failures} failures)` : ""}`).join(", ")
        : "closed";
      const health = p.healthy ? "healthy" : `cooling until ${clock(p.retry_at)}`;
      const can = [p.suspend && "suspend", p.archive && "archive"].filter(Boolean).join(", ");
      return row(
        [
          p.name,
          cell(health, p.healthy ? "healthy" : "unhealthy"),
          circuits,
          p.regions.join(", ") || "-",
          can || "-",
          cell(p.price ? credits(p.price.cpu_hour) : "-", "num"),
          cell(p.price ? credits(p.price.memory_gib_hour) : "-", "num"),
        ],
        { provider: p.name },
      );
    }),
  );
}

function spendKey(point, by) {
  if (by === "user") return point.user_id;
  if (by === "sandbox") return point.sandbox_id;
  return agentName(point.agent_id, point.sandbox_id);
}

async function refreshSpend() {
  const by = $("spend-by").value;
  const bucket = Number($("spend-bucket").value);
  const since = Math.floor(now() / bucket) * bucket - 59 * bucket;
  const every = state.me.admin && $("spend-all").checked ? "&all_users=true" : "";
  const [series, usage] = await Promise.all([
    api(`/v1/usage/series?bucket_s=${bucket}&since=${since}${every}`),
    api(`/v1/usage?since=0${every}`),
  ]);
  // A continuous axis: every bucket from the first with spend up to now.
  const starts = series.points.map((p) => p.start);
  const buckets = [];
  if (starts.length) {
    const last = Math.floor(now() / bucket) * bucket;
    for (let b = Math.min(...starts); b <= Math.max(last, ...starts); b += bucket) buckets.push(b);
  }
  const named = new Map();
  const add = (name, start, amount) => {
    if (!named.has(name)) named.set(name, new Map());
    const values = named.get(name);
    values.set(start, (values.get(start) || 0) + amount);
  };
  for (const p of series.points) {
    if (by === "kind") {
      add("token", p.start, p.token_micro);
      add("compute", p.start, p.compute_micro);
      add("idle", p.start, p.idle_micro);
    } else {
      add(spendKey(p, by), p.start, p.token_micro + p.compute_micro + p.idle_micro);
    }
  }
  const lines = [...named.entries()].map(([name, values]) => ({ name, values }));
  const formatTime = bucket >= 86400 ? (t) => moment(t).slice(0, 10) : clock;
  const colours = window.drawStackedBars($("spend-chart"), buckets, lines, credits, formatTime);
  $("spend-legend").replaceChildren(
    ...lines.map((s) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = colours.get(s.name);
      span.append(swatch, s.name);
      return span;
    }),
  );
  $("spend-total").textContent = credits(usage.total_micro);
  $("spend-body").replaceChildren(
    ...usage.lines.map((l) =>
      row([
        l.user_id,
        l.sandbox_id,
        l.agent_id ? agentName(l.agent_id, l.sandbox_id) : "(idle)",
        cell(credits(l.token_micro), "num"),
        cell(credits(l.compute_micro), "num"),
        cell(credits(l.idle_micro), "num"),
        cell(credits(l.total_micro), "num"),
      ]),
    ),
  );
}

async function refreshRuns() {
  const runs = (await api("/v1/runs?limit=50")).reverse(); // newest first
  const selected = state.timeline && state.timeline.runId;
  $("runs-body").replaceChildren(
    ...runs.map((r) => {
      const tr = row(
        [
          r.run_id,
          agentName(r.agent_id, r.sandbox_id),
          cell(r.state, `state state-${r.state}`),
          r.started_at ? moment(r.started_at) : "-",
          cell(r.started_at ? duration((r.ended_at || now()) - r.started_at) : "-", "num"),
        ],
        { run: r.run_id, state: r.state },
      );
      if (r.run_id === selected) tr.className = "selected";
      tr.addEventListener("click", () => showTimeline(r.run_id));
      return tr;
    }),
  );
}

function describe(kind, data) {
  switch (kind) {
    case "run.started":
      return `on ${data.provider} (${data.runtime}), session ${data.session_id}`;
    case "session.ready":
      return `${data.how} in ${Math.round(data.took_ms)} ms on ${data.provider}`;
    case "message.delta":
      return data.delta;
    case "tool.started":
      return `${data.tool} ${data.preview || ""}`;
    case "tool.completed":
      return `${data.tool}${data.error ? " failed" : ""} in ${data.duration_s.toFixed(1)} s`;
    case "approval.requested":
      return data.command;
    case "approval.resolved":
      return data.choice;
    case "usage":
      return `${data.input_tokens} in, ${data.output_tokens} out tokens (${data.model || ""})`;
    case "run.completed":
      return data.output || "";
    case "run.failed":
    case "run.cancelled":
      return data.message || data.reason || data.error || "";
    default:
      return "";
  }
}

function appendEvent(list, kind, data) {
  const last = list.lastElementChild;
  if (kind === "message.delta" && last && last.dataset.kind === kind) {
    last.lastElementChild.textContent += data.delta;  // one line per message, not per delta
    return;
  }
  const li = document.createElement("li");
  li.dataset.kind = kind;
  const time = document.createElement("span");
  time.className = "dim";
  time.textContent = `${data.at ? clock(data.at) : ""} `;
  const name = document.createElement("span");
  name.className = "kind";
  name.textContent = kind;
  const text = document.createElement("span");
  text.textContent = ` ${describe(kind, data)}`;
  li.append(time, name, text);
  list.appendChild(li);
}

async function showTimeline(runId) {
  if (state.timeline) state.timeline.controller.abort();
  const controller = new AbortController();
  state.timeline = { runId, controller };
  for (const tr of $("runs-body").children) tr.className = tr.dataset.run === runId ? "selected" : "";
  $("timeline-title").textContent = `Run ${runId}`;
  const list = $("timeline-events");
  list.replaceChildren();
  try {
    const response = await api(`/v1/runs/${runId}/events`, { raw: true, signal: controller.signal });
    if (!response.ok) throw new Error(`events: ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) kind = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) appendEvent(list, kind, JSON.parse(data));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") setStatus(e.message, true);
  }
}

async function refreshSwitches() {
  const admin = state.me.admin;
  $("switches-admin-only").hidden = admin;
  $("switches-admin").hidden = !admin;
  if (!admin) return;
  const [providers, pauses, history] = await Promise.all([
    api("/v1/providers"),
    api("/v1/admin/pauses"),
    api("/v1/admin/pauses/history"),
  ]);
  const paused = new Set(pauses.map((p) => p.scope));
  $("switches-body").replaceChildren(
    ...providers.map((p) => {
      const scope = `provider:${p.name}`;
      const on = paused.has(scope);
      return row(
        [
          p.name,
          cell(on ? "paused" : "serving", on ? "paused" : "healthy"),
          button(on ? "Unpause" : "Pause", () => toggle(scope, on)),
        ],
        { provider: p.name, paused: String(on) },
      );
    }),
  );
  $("pauses-body").replaceChildren(
    ...pauses.map((p) => row([p.scope, p.mode, p.actor, moment(p.at), p.reason])),
  );
  $("audit-body").replaceChildren(
    ...history
      .slice()
      .reverse()
      .map((e) => row([moment(e.at), e.action, e.scope, e.mode || "-", e.actor, e.reason])),
  );
}

async function toggle(scope, isPaused) {
  const reason = $("switch-reason").value.trim() || "from the dashboard";
  $("switch-error").textContent = "";
  try {
    if (isPaused) await api("/v1/admin/unpause", { method: "POST", body: { scope, reason } });
    else await api("/v1/admin/pauses", { method: "POST", body: { scope, mode: "drain", reason } });
  } catch (e) {
    $("switch-error").textContent = e.message;
  }
  await refresh();
}

const REFRESH = {
  sessions: async () => {
    await loadAgents();
    await refreshSessions();
  },
  providers: refreshProviders,
  spend: async () => {
    await loadAgents();
    await refreshSpend();
  },
  runs: async () => {
    await loadAgents();
    await refreshRuns();
  },
  switches: refreshSwitches,
};

async function refresh() {
  if (!state.me || state.busy) return;
  state.busy = true;
  try {
    await REFRESH[state.page]();
    setStatus(`updated ${clock(now())}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) logout(e.message);
    else setStatus(e.message, true);
  } finally {
    state.busy = false;
  }
}

// -- navigation and login -------------------------------------------------------------------

function show(page) {
  if (!PAGES.includes(page)) page = "sessions";
  if (page !== "runs" && state.timeline) {
    state.timeline.controller.abort();
    state.timeline = null;
  }
  state.page = page;
  for (const p of PAGES) $(`page-${p}`).hidden = p !== page;
  for (const a of $("tabs").querySelectorAll("a")) {
    a.className = a.dataset.page === page ? "current" : "";
  }
  refresh();
}

function enter(me) {
  state.me = me;
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("who").hidden = false;
  $("who-text").textContent = `${me.user_id}${me.admin ? " (admin)" : ""}`;
  $("act-for").hidden = !me.admin;
  $("spend-all-label").hidden = !me.admin;
  $("spend-all").checked = false;
  $("act-user").value = sessionStorage.getItem(ACT_FOR) || "";
  show(location.hash.slice(1));
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ACT_FOR);
  state.key = null;
  state.me = null;
  $("login").hidden = false;
  $("tabs").hidden = true;
  $("who").hidden = true;
  for (const p of PAGES) $(`page-${p}`).hidden = true;
  $("login-error").textContent = message || "";
}

async function login(key) {
  state.key = key;
  try {
    const me = await api("/v1/me");
    sessionStorage.setItem(KEY, key);
    enter(me);
  } catch (e) {
    logout(e.message);
  }
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  login($("key").value.trim());
  $("key").value = "";
});
$("logout").addEventListener("click", () => logout());
$("act-user").addEventListener("change", () => {
  const user = $("act-user").value.trim();
  if (user) sessionStorage.setItem(ACT_FOR, user);
  else sessionStorage.removeItem(ACT_FOR);
  refresh();
});
$("all-sessions").addEventListener("change", refresh);
$("spend-by").addEventListener("change", refresh);
$("spend-bucket").addEventListener("change", refresh);
$("spend-all").addEventListener("change", refresh);
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
setInterval(refresh, POLL_MS);
if (state.key) login(state.key);
