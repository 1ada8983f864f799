// scaleset dashboard: polls the scaler's HTTP API (same origin) and
// renders every pool.  Plain JS, no build step, no third-party code.
//
// The API token (api.token_file) is asked for once and kept in
// sessionStorage (this tab only).  Fields and endpoints that a scaler may
// not have yet (GET /v1/pools/{pool}/instances, .../upgrade, instance
// version / latest_model / host / health / created) are shown when the
// API returns them and left out otherwise.  Every value is put into the
// page as text (textContent), never as markup.
"use strict";

const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(250, Number(params.get("poll")) || 2000);
const TOKEN_KEY = "scaleset.token";
const SVG = "http://www.w3.org/2000/svg";

let pollTimer = null;
let busy = false;
// endpoints this scaler does not have (404 "no such path"): not asked again
const missing = new Set();
const lastRequests = new Map();   // pool -> {t, total} for requests/s

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function $(sel, root) { return (root || document).querySelector(sel); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// fetch a JSON API path; the API's {"error": ...} becomes the message
async function api(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "scaler unreachable: " + e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    const msg = data && typeof data.error === "string" ? data.error
                                                       : res.status + " " + res.statusText;
    throw new ApiError(res.status, msg);
  }
  return data;
}

// an optional endpoint: null when this scaler does not have it
async function optional(path, key) {
  if (missing.has(key)) return null;
  try {
    return await api("GET", path);
  } catch (e) {
    if (e.status === 404 && /no such path/.test(e.message)) {
      missing.add(key);
      return null;
    }
    if (e.status === 404 || e.status === 405) return null;
    throw e;
  }
}

function showMessage(text, kind) {
  const m = $("#message");
  m.textContent = text;
  m.className = "message" + (kind ? " " + kind : "");
  m.hidden = !text;
}

function setStatus(text, ok) {
  const s = $("#status");
  s.textContent = text;
  s.className = "status " + (ok ? "ok" : "bad");
}

function askToken(why) {
  $("#login").hidden = false;
  $("#pools").hidden = true;
  $("#forget").hidden = true;
  setStatus(why, false);
  $("#token").focus();
}

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  return Number.isInteger(v) ? String(v) : v.toPrecision(digits || 4).replace(/\.?0+$/, "");
}

function when(ms) {
  if (!ms) return "–";
  const d = new Date(typeof ms === "number" && ms < 1e11 ? ms * 1000 : ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

// ---------------------------------------------------------------- polling

async function poll() {
  if (busy) return;
  busy = true;
  try {
    const list = await api("GET", "/v1/pools");
    $("#login").hidden = true;
    $("#pools").hidden = false;
    $("#forget").hidden = !token();
    const pools = (list && list.pools) || [];
    const details = await Promise.all(pools.map(p => loadPool(p.name)));
    render(pools, details);
    setStatus("live", true);
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.status === 401) {
      askToken(token() ? "token refused" : "token needed");
    } else {
      setStatus(e.message, false);
    }
  } finally {
    busy = false;
  }
}

async function loadPool(name) {
  const p = encodeURIComponent(name);
  const [pool, instances, upgrade, history] = await Promise.all([
    api("GET", "/v1/pools/" + p),
    optional("/v1/pools/" + p + "/instances", "instances"),
    optional("/v1/pools/" + p + "/upgrade", "upgrade"),
    optional("/v1/pools/" + p + "/history", "history"),
  ]);
  return { pool, instances, upgrade, history };
}

function schedule() {
  clearTimeout(pollTimer);
  // while the token form is up, nothing is asked (its submit polls)
  pollTimer = setTimeout(async () => {
    if ($("#login").hidden) await poll();
    schedule();
  }, POLL_MS);
}

// ---------------------------------------------------------------- render

function render(pools, details) {
  const main = $("#pools");
  const seen = new Set();
  pools.forEach((summary, i) => {
    const id = "pool-" + summary.name;
    seen.add(id);
    let sec = document.getElementById(id);
    if (!sec) {
      sec = $("#pool-template").content.firstElementChild.cloneNode(true);
      sec.id = id;
      sec.dataset.pool = summary.name;
      wirePool(sec, summary.name);
      main.append(sec);
    }
    renderPool(sec, summary, details[i]);
  });
  for (const sec of [...main.children]) {
    if (!seen.has(sec.id)) sec.remove();
  }
  if (!pools.length) {
    main.replaceChildren(el("p", { class: "muted", text: "no pools configured" }));
  }
}

function instancesOf(d) {
  if (d.instances) {
    return Array.isArray(d.instances) ? d.instances : (d.instances.instances || []);
  }
  return d.pool.instances_list || [];
}

function renderPool(sec, summary, d) {
  const pool = d.pool;
  $(".name", sec).textContent = pool.name;
  const redis = $(".redis", sec);
  redis.textContent = pool.redis ? "redis up" : "redis down";
  redis.className = "badge redis " + (pool.redis ? "up" : "down");
  $(".desired", sec).textContent = fmt(pool.capacity);
  $(".running", sec).textContent = fmt(pool.running);
  $(".instances-count", sec).textContent = fmt(pool.instances);
  $(".bounds", sec).textContent = fmt(pool.min) + " – " + fmt(pool.max);
  const cap = $(".capacity", sec);
  if (document.activeElement !== cap && !cap.dataset.edited) cap.value = pool.capacity;
  cap.min = pool.min;
  cap.max = pool.max;

  // zones: running now, and the share a balanced pool gives each
  const zones = Object.entries(pool.zones || {});
  const tb = $(".zones tbody", sec);
  tb.replaceChildren(...zones.map(([z, n], k) => {
    const share = Math.floor(pool.capacity / zones.length)
                  + (k < pool.capacity % zones.length ? 1 : 0);
    return el("tr", { "data-zone": z }, el("td", { text: z }),
              el("td", { class: "num running-zone", text: fmt(n) }),
              el("td", { class: "num", text: fmt(share) }));
  }));

  const inst = instancesOf(d);
  renderInstances(sec, pool.name, inst);
  renderTraffic(sec, pool.name, inst, d.history);
  renderUpgrade(sec, pool.name, d.upgrade);
  renderAutoscale(sec, pool.autoscale);
  renderHistory(sec, d.history);
}

function healthCell(h) {
  // {"gw1": {"state": "up", "conns": 3}, ...} or {"gw1": "up conns=3 ..."}
  const td = el("td", { class: "health" });
  if (!h || typeof h !== "object") { td.textContent = "–"; return td; }
  const parts = [];
  for (const [gw, v] of Object.entries(h)) {
    let state = v, conns;
    if (v && typeof v === "object") { state = v.state; conns = v.conns; }
    else if (typeof v === "string") {
      const m = v.match(/^(\w+)(?:.*\bconns=(\d+))?/);
      if (m) { state = m[1]; conns = m[2] !== undefined ? Number(m[2]) : undefined; }
    }
    parts.push(el("span", { class: "health-" + state,
      text: gw + ": " + state + (conns !== undefined ? " (" + conns + ")" : "") }));
    parts.push(" ");
  }
  td.append(...parts);
  return td;
}

function renderInstances(sec, poolName, inst) {
  const tb = $(".instances tbody", sec);
  tb.replaceChildren(...inst.map(i => {
    const del = el("button", { type: "button", class: "delete", text: "Delete" });
    del.addEventListener("click", () => act(
      "delete " + i.id + "?", "DELETE",
      "/v1/pools/" + encodeURIComponent(poolName) + "/instances/" + encodeURIComponent(i.id),
      undefined, "deleted " + i.id));
    const latest = i.latest_model === undefined ? "–" : (i.latest_model ? "yes" : "no");
    return el("tr", { "data-id": i.id, class: "instance" },
      el("td", { text: i.id }),
      el("td", { class: "state state-" + i.state, text: i.state }),
      el("td", { text: i.zone || "–" }),
      el("td", { text: i.host || "–" }),
      el("td", { text: i.address || "–" }),
      el("td", { class: "version", text: i.version === undefined ? "–" : String(i.version) }),
      el("td", { class: "latest-model", text: latest }),
      healthCell(i.health),
      el("td", { text: when(i.created) }),
      el("td", {}, del));
  }));
}

function lastValue(h, name) {
  const v = h && h.series && h.series[name];
  if (!v) return null;
  for (let k = v.length - 1; k >= 0; k--) if (v[k] !== null) return v[k];
  return null;
}

// active connections: the gateways' reports per instance (health), else
// the scaler's history (Prometheus: sum of scaleset_upstream_active_
// connections); requests/s: the instances' request counters when the API
// has them, else the history (sum of the gateways' request rates)
function renderTraffic(sec, poolName, inst, history) {
  let conns = null, total = null;
  for (const i of inst) {
    for (const v of Object.values(i.health && typeof i.health === "object" ? i.health : {})) {
      let c;
      if (v && typeof v === "object") c = v.conns;
      else if (typeof v === "string") {
        const m = v.match(/\bconns=(\d+)/);
        if (m) c = Number(m[1]);
      }
      if (typeof c === "number") conns = (conns || 0) + c;
    }
    if (typeof i.requests === "number") total = (total || 0) + i.requests;
  }
  if (conns === null) conns = lastValue(history, "active_connections");
  $(".conns", sec).textContent = fmt(conns);
  let rps = null;
  const perS = inst.filter(i => typeof i.requests_per_s === "number");
  if (perS.length) {
    rps = perS.reduce((a, i) => a + i.requests_per_s, 0);
  } else if (total !== null) {
    const now = Date.now(), last = lastRequests.get(poolName);
    if (last && now > last.t && total >= last.total) rps = (total - last.total) * 1000 / (now - last.t);
    lastRequests.set(poolName, { t: now, total });
  }
  if (rps === null) rps = lastValue(history, "requests_per_s");
  $(".rps", sec).textContent = rps === null ? "–" : fmt(rps, 3);
}

function renderUpgrade(sec, poolName, up) {
  const box = $(".upgrade", sec);
  const button = $(".upgrade-button", sec);
  button.hidden = up === null;
  if (!up || !up.state || up.state === "idle") { box.hidden = true; return; }
  box.hidden = false;
  // GET /v1/pools/{pool}/upgrade (docs/upgrades.md): from/to are
  // {version, digest}; on_model and left are the live counts
  const v = m => (m && typeof m === "object") ? m.version : m;
  const on = Number(up.on_model || 0), left = Number(up.left || 0);
  const fail = Number(up.failed || 0);
  const ids = Array.isArray(up.instances) ? up.instances.join(" ") : "";
  $(".upgrade-text", sec).textContent =
    up.state + (up.from ? ": version " + v(up.from) + " → " + v(up.to) : "") +
    (up.batches ? ", batch " + up.batch + " of " + up.batches : "") +
    (up.zone ? " in zone " + up.zone : "") + (ids ? " (" + ids + ")" : "") +
    ", " + on + " on the model, " + left + " outdated" +
    (fail ? ", " + fail + " unhealthy" : "") +
    (up.error ? " — " + up.error : "");
  const bar = $(".upgrade-progress", sec);
  bar.max = (on + left) || 1;
  bar.value = on;
}

function renderAutoscale(sec, a) {
  const box = $(".autoscale", sec);
  if (!a) { box.hidden = true; return; }
  box.hidden = false;
  $(".autoscale-text", sec).textContent = a.evaluated
    ? "profile " + a.profile + " (min " + a.min + ", max " + a.max + ", default " + a.default +
      "); last decision " + a.previous + " → " + a.capacity + " (" + a.direction + "): " + a.reason
    : "not evaluated yet";
  $(".rules tbody", sec).replaceChildren(...(a.rules || []).map(r => el("tr", { "data-rule": r.name },
    el("td", { text: r.name }), el("td", { text: r.direction || "–" }),
    el("td", { class: "num", text: fmt(r.value) }),
    el("td", { class: "num", text: (r.operator || "") + " " + fmt(r.threshold) }),
    el("td", { text: r.holds ? "yes" : "no" }), el("td", { text: r.fired ? "yes" : "no" }),
    el("td", { class: "num", text: fmt(r.held_s, 3) + "/" + fmt(r.for_s, 3) + " s" }),
    el("td", { class: "num", text: fmt(r.cooldown_left_s, 3) + " s" }),
    el("td", { text: (r.status || "–") + (r.reason ? ": " + r.reason : "") }))));
}

function renderHistory(sec, h) {
  const charts = $(".charts", sec);
  const list = $(".decisions", sec);
  if (!h) {
    charts.replaceChildren(el("p", { class: "muted", text: "no history from this scaler" }));
    list.replaceChildren();
    return;
  }
  const t = h.t || [];
  const s = h.series || {};
  const boxes = [chart("capacity", t, [["desired", s.desired, "#0b5cad"],
                                       ["running", s.running, "#1a7f37"]])];
  if (s.requests_per_s || s.active_connections) {
    boxes.push(chart("traffic", t, [["requests/s", s.requests_per_s, "#6a3fb5"],
                                    ["active connections", s.active_connections, "#c62828"]]));
  }
  for (const name of Object.keys(s).filter(k => k.startsWith("rule:")).sort()) {
    boxes.push(chart(name.slice(5), t, [[name.slice(5), s[name], "#b26a00"]]));
  }
  charts.replaceChildren(...boxes);
  list.replaceChildren(...(h.decisions || []).map(d => {
    const rules = (d.rules || []).map(r => r.name + " " + fmt(r.value) + " " + r.operator + " " +
      fmt(r.threshold) + (r.fired ? " (fired)" : "")).join("; ");
    return el("li", { class: "decision" },
      el("strong", { text: new Date(d.at).toLocaleTimeString() + " " + d.previous + " → " + d.capacity }),
      " " + d.source + ": " + d.reason + (rules ? " — " + rules : ""));
  }));
}

// a line chart of series over times t (UNIX ms), as SVG
function chart(title, t, series) {
  const W = 360, H = 120, L = 36, B = 18, T = 6, R = 6;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  let lo = Infinity, hi = -Infinity;
  for (const [, v] of series) for (const x of v || []) if (x !== null) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (lo > 0) lo = 0;
  if (hi === lo) hi = lo + 1;
  const t0 = t.length ? t[0] : 0, t1 = t.length ? Math.max(t[t.length - 1], t0 + 1) : 1;
  const X = ms => L + (W - L - R) * (ms - t0) / (t1 - t0);
  const Y = v => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const text = (x, y, s, anchor) => {
    const e = document.createElementNS(SVG, "text");
    e.setAttribute("x", x); e.setAttribute("y", y); e.setAttribute("font-size", "10");
    e.setAttribute("fill", "#6b7480"); e.setAttribute("text-anchor", anchor || "end");
    e.textContent = s;
    svg.append(e);
  };
  const axis = document.createElementNS(SVG, "path");
  axis.setAttribute("d", "M" + L + "," + T + "V" + (H - B) + "H" + (W - R));
  axis.setAttribute("stroke", "#d9dee4"); axis.setAttribute("fill", "none");
  svg.append(axis);
  text(L - 3, T + 8, fmt(hi, 3)); text(L - 3, H - B, fmt(lo, 3));
  if (t.length) {
    text(L, H - 4, new Date(t0).toLocaleTimeString(), "start");
    text(W - R, H - 4, new Date(t1).toLocaleTimeString());
  }
  for (const [name, v, color] of series) {
    let d = "", pen = false, points = 0;
    (v || []).forEach((x, k) => {
      if (x === null || t[k] === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + X(t[k]).toFixed(1) + "," + Y(x).toFixed(1);
      pen = true; points++;
    });
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", d || "M0,0");
    p.setAttribute("stroke", color); p.setAttribute("fill", "none"); p.setAttribute("stroke-width", "1.5");
    p.setAttribute("data-series", name);
    p.setAttribute("data-points", points);
    svg.append(p);
    // the latest value as a dot (a single sample has no line)
    for (let k = (v || []).length - 1; k >= 0; k--) {
      if (v[k] === null || t[k] === undefined) continue;
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("cx", X(t[k]).toFixed(1)); c.setAttribute("cy", Y(v[k]).toFixed(1));
      c.setAttribute("r", "2.5"); c.setAttribute("fill", color);
      svg.append(c);
      break;
    }
  }
  return el("div", { class: "chart", "data-chart": title },
    el("div", { class: "title", text: title + "  (" + series.map(x => x[0]).join(", ") + ")" }), svg);
}

// ---------------------------------------------------------------- actions

async function act(confirmText, method, path, body, done) {
  if (confirmText && params.get("confirm") !== "0" && !confirm(confirmText)) return;
  try {
    await api(method, path, body);
    showMessage(done, "info");
  } catch (e) {
    showMessage(e.message, "");
    if (e.status === 401) askToken("token refused");
  }
  await poll();
}

function wirePool(sec, name) {
  const p = encodeURIComponent(name);
  const cap = $(".capacity", sec);
  cap.addEventListener("input", () => { cap.dataset.edited = "1"; });
  $(".scale", sec).addEventListener("submit", async ev => {
    ev.preventDefault();
    const n = Number(cap.value);
    delete cap.dataset.edited;
    await act(null, "PUT", "/v1/pools/" + p + "/capacity", { capacity: n },
              "pool " + name + ": capacity " + n);
  });
  $(".upgrade-button", sec).addEventListener("click", () => act(
    "start a rolling upgrade of " + name + "?", "POST", "/v1/pools/" + p + "/upgrade", {},
    "upgrade of " + name + " started"));
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login").addEventListener("submit", async ev => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    showMessage("");
    await poll();
  });
  $("#forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken("token forgotten");
  });
  poll().then(schedule);
});
