"""The web console: one self-contained page (inline CSS and JS, nothing from elsewhere).

It asks for the admin token (or takes ``?token=``) and keeps it in sessionStorage;
live calls and registrations come from the ``/api/events`` stream every second, the
rest from the JSON API.  Text from the network is put in the page with
``textContent`` only.
"""

from __future__ import annotations

__all__ = ["CONSOLE_PAGE"]

CONSOLE_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sipline console</title>
<style>
:root { --fg:#1d2430; --muted:#667085; --line:#d8dde6; --bg:#f6f7f9; --accent:#2458c6; --bad:#b42318; --ok:#067647; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; gap:1.5em; align-items:baseline; padding:.8em 1.2em; background:#fff; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:1.2em; margin:0; }
header .stat b { font-size:1.15em; }
.muted { color:var(--muted); }
main { display:grid; grid-template-columns:repeat(auto-fit, minmax(520px, 1fr)); gap:1em; padding:1em 1.2em; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.6em .9em; overflow:auto; }
section.wide { grid-column:1 / -1; }
h2 { font-size:1em; margin:.2em 0 .6em; display:flex; justify-content:space-between; align-items:center; gap:1em; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.25em .5em; border-bottom:1px solid var(--line); vertical-align:top; white-space:nowrap; }
td.wrap { white-space:normal; word-break:break-all; }
th { font-weight:600; color:var(--muted); font-size:.9em; }
button { font:inherit; padding:.15em .6em; border:1px solid var(--line); background:#fff; border-radius:4px; cursor:pointer; }
button.danger { color:var(--bad); border-color:#f1b5b0; }
button.primary { color:#fff; background:var(--accent); border-color:var(--accent); }
input { font:inherit; padding:.15em .4em; border:1px solid var(--line); border-radius:4px; }
.empty { color:var(--muted); font-style:italic; padding:.4em 0; }
#login { max-width:28em; margin:5em auto; background:#fff; border:1px solid var(--line); border-radius:6px; padding:1.5em; }
#login input { width:100%; margin:.6em 0; }
#message { color:var(--bad); padding:0 1.2em; }
#ladder-frame { width:100%; height:32em; border:1px solid var(--line); border-radius:4px; background:#fff; }
.state-answered, .state-confirmed, .state-registered { color:var(--ok); }
form.inline { display:flex; gap:.4em; flex-wrap:wrap; margin-top:.6em; }
</style>
</head>
<body>
<div id="login" hidden>
  <h1>sipline console</h1>
  <p>Enter the admin token (the <code>admin-token</code> file in the server's data directory).</p>
  <form id="login-form"><input id="token-input" type="password" autocomplete="off" placeholder="admin token"><button class="primary" type="submit">Open</button></form>
  <p id="login-error" class="muted"></p>
</div>
<div id="console" hidden>
<header>
  <h1>sipline <span id="version" class="muted"></span></h1>
  <span class="stat">registrations <b id="count-registrations">0</b></span>
  <span class="stat">live calls <b id="count-calls">0</b></span>
  <span class="stat">calls/s <b id="count-cps">0</b></span>
  <span class="stat">users <b id="count-users">0</b></span>
  <span class="muted" id="uptime"></span>
  <span class="muted" id="listeners"></span>
  <span class="muted" id="live-state">connecting…</span>
  <span style="margin-left:auto"><button id="trace-toggle" hidden></button> <button id="logout">Forget token</button></span>
</header>
<p id="message"></p>
<main>
  <section class="wide" id="calls"><h2>Live calls</h2>
    <table><thead><tr><th>Caller</th><th>Callee</th><th>State</th><th>Duration</th><th>Codecs</th><th>Legs</th><th></th></tr></thead><tbody></tbody></table>
    <div class="empty">No call in progress.</div></section>
  <section id="registrations"><h2>Registered phones</h2>
    <table><thead><tr><th>AOR</th><th>Contact</th><th>From</th><th>Expires</th><th>User agent</th></tr></thead><tbody></tbody></table>
    <div class="empty">No phone registered.</div></section>
  <section id="cdrs"><h2>Recent calls <button id="cdrs-refresh">Refresh</button></h2>
    <table><thead><tr><th>Start</th><th>Caller</th><th>Callee</th><th>Result</th><th></th></tr></thead><tbody></tbody></table>
    <div class="empty">No call yet.</div></section>
  <section id="users"><h2>Users</h2>
    <table><thead><tr><th>AOR</th><th>Name</th><th></th></tr></thead><tbody></tbody></table>
    <div class="empty">No user yet.</div>
    <form class="inline" id="user-form"><input id="user-aor" placeholder="1000@example.com" required><input id="user-password" type="password" placeholder="password" required><input id="user-name" placeholder="display name"><button class="primary" type="submit">Add user</button></form></section>
  <section id="trunks"><h2>Trunks</h2>
    <table><thead><tr><th>Name</th><th>Target</th><th>State</th><th>Detail</th></tr></thead><tbody></tbody></table>
    <div class="empty">No trunk configured.</div></section>
  <section class="wide" id="ladder"><h2><span>Ladder <span id="ladder-title" class="muted"></span></span><button id="ladder-close" hidden>Close</button></h2>
    <div class="empty" id="ladder-empty">Choose “Ladder” on a call to see its messages.</div>
    <iframe id="ladder-frame" title="ladder" sandbox="allow-scripts" hidden></iframe></section>
</main>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let token = "";
let source = null;
let lastCallCount = -1;

function takeToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("sipline-token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem("sipline-token") || "";
}

async function api(path, options = {}) {
  const headers = Object.assign({"Authorization": "Bearer " + token}, options.headers || {});
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (response.status === 401) { showLogin("The token was refused."); throw new Error("unauthorized"); }
  return response;
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text) { $("message").textContent = text || ""; }

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(row, label, onClick, className) {
  const td = row.lastChild && row.lastChild.dataset && row.lastChild.dataset.actions ? row.lastChild : document.createElement("td");
  td.dataset.actions = "1";
  const b = document.createElement("button");
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  td.appendChild(b);
  row.appendChild(td);
  return b;
}

function fill(sectionId, items, makeRow) {
  const section = $(sectionId);
  const body = section.querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    makeRow(row, item);
    body.appendChild(row);
  }
  section.querySelector(".empty").hidden = items.length > 0;
  section.querySelector("table").hidden = items.length === 0;
}

function seconds(value) {
  const s = Math.max(0, Math.floor(value));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
}

function when(epoch) { return new Date(epoch * 1000).toLocaleString(); }

function showCalls(calls) {
  fill("calls", calls, (row, call) => {
    row.dataset.callId = call.id;
    cell(row, call.caller); cell(row, call.callee);
    cell(row, call.state, "state-" + call.state);
    cell(row, seconds(call.duration));
    cell(row, [...new Set(call.legs.map((l) => l.codec).filter(Boolean))].join(", "));
    cell(row, call.legs.map((l) => l.side + " " + l.peer + " (" + l.state + ")").join("; "), "wrap");
    button(row, "Ladder", () => openLadder(call.id, call.caller + " → " + call.callee), "ladder-button");
    button(row, "Hang up", () => hangup(call.id), "danger");
  });
  $("count-calls").textContent = calls.length;
  if (lastCallCount !== -1 && calls.length < lastCallCount) loadCdrs();
  lastCallCount = calls.length;
}

function showRegistrations(registrations) {
  fill("registrations", registrations, (row, r) => {
    row.dataset.aor = r.aor;
    cell(row, r.aor); cell(row, r.contact, "wrap"); cell(row, r.source);
    cell(row, seconds(r.expires_in)); cell(row, r.user_agent || "");
  });
}

function showSnapshot(data) {
  showCalls(data.calls);
  showRegistrations(data.registrations);
  $("count-registrations").textContent = data.counts.registrations;
  $("count-users").textContent = data.counts.users;
  $("count-cps").textContent = data.calls_per_second.toFixed(2);
  if (data.trace_enabled !== null) showTrace(data.trace_enabled);
}

function showTrace(enabled) {
  const b = $("trace-toggle");
  b.hidden = false;
  b.dataset.enabled = enabled ? "1" : "";
  b.textContent = enabled ? "Trace: on (turn off)" : "Trace: off (turn on)";
}

async function toggleTrace() {
  try {
    const data = await apiJson("/api/trace", {method: "POST", body: JSON.stringify({enabled: !$("trace-toggle").dataset.enabled})});
    showTrace(data.enabled);
  } catch (error) { say("Trace: " + error.message); }
}

async function hangup(id) {
  try { await apiJson("/api/calls/" + encodeURIComponent(id), {method: "DELETE"}); say(""); }
  catch (error) { say("Hang up: " + error.message); }
}

async function openLadder(id, title) {
  $("ladder-title").textContent = title || id;
  try {
    const response = await api("/api/calls/" + encodeURIComponent(id) + "/ladder?format=html");
    const text = await response.text();
    if (!response.ok) {
      let reason = text;
      try { reason = JSON.parse(text).error; } catch (e) { /* not JSON */ }
      throw new Error(reason);
    }
    const frame = $("ladder-frame");
    frame.srcdoc = text;
    frame.hidden = false;
    $("ladder-empty").hidden = true;
    $("ladder-close").hidden = false;
    frame.scrollIntoView({behavior: "smooth", block: "start"});
    say("");
  } catch (error) { say("Ladder: " + error.message); }
}

function closeLadder() {
  $("ladder-frame").hidden = true; $("ladder-frame").srcdoc = "";
  $("ladder-empty").hidden = false; $("ladder-close").hidden = true; $("ladder-title").textContent = "";
}

async function loadCdrs() {
  try {
    const data = await apiJson("/api/cdrs?limit=20");
    fill("cdrs", data.cdrs, (row, c) => {
      cell(row, when(c.start_time)); cell(row, c.caller); cell(row, c.callee); cell(row, c.cause);
      const id = c.call_ids.length ? c.call_ids[0] : null;
      if (id) button(row, "Ladder", () => openLadder(id, c.caller + " → " + c.callee), "ladder-button");
      else cell(row, "");
    });
  } catch (error) { say("Recent calls: " + error.message); }
}

async function loadUsers() {
  try {
    const data = await apiJson("/api/users");
    fill("users", data.users, (row, u) => {
      cell(row, u.aor); cell(row, u.display_name || "");
      button(row, "Delete", () => deleteUser(u.aor), "danger");
    });
    $("count-users").textContent = data.users.length;
  } catch (error) { say("Users: " + error.message); }
}

async function deleteUser(aor) {
  if (!confirm("Delete " + aor + " and its registrations?")) return;
  try { await apiJson("/api/users/" + encodeURIComponent(aor), {method: "DELETE"}); loadUsers(); }
  catch (error) { say("Delete: " + error.message); }
}

async function addUser(event) {
  event.preventDefault();
  const body = {aor: $("user-aor").value.trim(), password: $("user-password").value};
  const name = $("user-name").value.trim();
  if (name) body.display_name = name;
  try {
    await apiJson("/api/users", {method: "POST", body: JSON.stringify(body)});
    $("user-form").reset(); say(""); loadUsers();
  } catch (error) { say("Add user: " + error.message); }
}

async function loadTrunks() {
  try {
    const data = await apiJson("/api/trunks");
    fill("trunks", data.trunks, (row, t) => {
      cell(row, t.name); cell(row, t.target); cell(row, t.state, "state-" + t.state); cell(row, t.detail, "wrap");
    });
  } catch (error) { say("Trunks: " + error.message); }
}

async function loadStatus() {
  const data = await apiJson("/api/status");
  $("version").textContent = data.version;
  $("uptime").textContent = "up " + seconds(data.uptime);
  $("listeners").textContent = data.listeners.join(" ");
  if (data.trace.available) showTrace(data.trace.enabled);
}

function listen() {
  if (source) source.close();
  source = new EventSource("/api/events?token=" + encodeURIComponent(token));
  source.addEventListener("snapshot", (event) => {
    $("live-state").textContent = "live";
    showSnapshot(JSON.parse(event.data));
  });
  source.onerror = () => { $("live-state").textContent = "reconnecting…"; };
}

function showLogin(reason) {
  if (source) { source.close(); source = null; }
  $("console").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = reason || "";
}

async function start() {
  try { await loadStatus(); } catch (error) { if (error.message !== "unauthorized") showLogin(error.message); return; }
  $("login").hidden = true;
  $("console").hidden = false;
  listen();
  loadCdrs(); loadUsers(); loadTrunks();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token-input").value.trim();
  sessionStorage.setItem("sipline-token", token);
  start();
});
$("logout").addEventListener("click", () => { sessionStorage.removeItem("sipline-token"); token = ""; showLogin(""); });
$("trace-toggle").addEventListener("click", toggleTrace);
$("cdrs-refresh").addEventListener("click", loadCdrs);
$("ladder-close").addEventListener("click", closeLadder);
$("user-form").addEventListener("submit", addUser);
setInterval(() => { if (token && !$("console").hidden) { loadStatus().catch(() => {}); loadTrunks(); } }, 10000);

token = takeToken();
if (token) start(); else showLogin("");
</script>
</body>
</html>
"""
