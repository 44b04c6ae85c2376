// The console's few behaviours: live rows over server-sent events, and showing the auth token on request.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf"]')?.content ?? "";

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text ?? "";
  return td;
}

function statusCell(status) {
  const td = document.createElement("td");
  td.className = "st";
  const span = document.createElement("span");
  span.className = `status s-${status}`;
  span.textContent = status;
  td.append(span);
  return td;
}

function link(href, text) {
  const td = document.createElement("td");
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  td.append(a);
  return td;
}

const rows = {
  call: (c) => [cell(c.date_created), cell(c.direction), cell(c.from), cell(c.to), statusCell(c.status),
    cell(c.duration ?? ""), link(`/console/calls/${c.sid}`, c.sid)],
  message: (m) => [cell(m.date_created), cell(m.direction), cell(m.from), cell(m.to),
    cell(m.body.length > 60 ? m.body.slice(0, 57) + "..." : m.body, "body"), statusCell(m.status),
    link(`/console/messages/${m.sid}`, m.sid)],
  notification: (n) => {
    const text = new URLSearchParams(n.message_text || "").get("Msg") || n.message_text;
    const about = n.call_sid ? link(`/console/calls/${n.call_sid}`, n.call_sid) : cell("");
    return [cell(n.date_created), cell(n.error_code), cell(text), about];
  },
};

const LIVE = new Set(["queued", "ringing", "in-progress"]);

function show(kind, item) {
  for (const table of document.querySelectorAll(`table[data-live="${kind}"]`)) {
    const phone = table.dataset.phone;
    if (phone && item.from !== phone && item.to !== phone) continue;
    if (phone && LIVE.has(item.status) && !following) openCall(item.sid);
    const body = table.tBodies[0];
    const known = body.querySelector(`tr[data-sid="${item.sid}"]`);
    if (known) {
      const st = known.querySelector("td.st");
      if (st && item.status) st.replaceWith(statusCell(item.status));
      if (kind === "call" && item.duration != null) known.children[5].textContent = item.duration;
      continue;
    }
    body.querySelector("tr.empty")?.remove();
    const tr = document.createElement("tr");
    tr.dataset.sid = item.sid;
    tr.className = "fresh";
    tr.append(...(phone ? phoneCall(item) : rows[kind](item)));
    body.prepend(tr);
  }
  // A call or message page follows its own resource: a new status redraws the page.
  const heading = document.querySelector(`h1[data-${kind}="${item.sid}"]`);
  if (heading && heading.dataset.status !== item.status) location.reload();
}

// -- the virtual phone page: follow one call, press keys, say words ----------------------------------------
let following = null;

function phoneCall(c) {
  const open = document.createElement("td");
  const a = document.createElement("a");
  a.href = "#";
  a.dataset.openCall = c.sid;
  a.textContent = c.sid;
  open.append(a);
  return [cell(c.direction), cell(c.from), cell(c.to), statusCell(c.status), open];
}

async function post(url, fields) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
  const body = await r.json();
  if (!r.ok) showError(`${body.message} (${body.code})`);
  return body;
}

function showError(text) {
  let p = document.querySelector("#call-panel .error");
  if (!p) {
    p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    document.getElementById("call-panel").prepend(p);
  }
  p.textContent = text;
}

function describe(e) {
  const words = e.text || e.speech || "";
  if (e.event === "heard") return `heard ${words ? `“${words}”` : e.digits ? `keys ${e.digits}` : ""}`.trim();
  if (e.event === "say") return `heard <Say> “${e.text}”`;
  if (e.event === "play") return `heard <Play> ${e.url || e.digits || ""}`;
  if (e.event === "gather") return e.speech ? `said “${e.speech}”` : `pressed ${e.digits || "nothing"}`;
  const rest = Object.entries(e).filter(([k, v]) => k !== "event" && typeof v !== "object").map(([k, v]) => `${k}=${v}`);
  return `${e.event} ${rest.join(" ")}`.trim();
}

async function poll(sid) {
  if (following !== sid) return;
  const r = await fetch(`/console/phones/calls/${sid}`);
  if (r.ok) {
    const call = await r.json();
    document.getElementById("call-status").replaceChildren(statusCell(call.status).firstChild);
    const list = document.getElementById("transcript");
    list.replaceChildren(...call.transcript.map((e) => {
      const li = document.createElement("li");
      li.textContent = describe(e);
      return li;
    }));
    if (!LIVE.has(call.status)) {
      following = null;
      return;
    }
  }
  setTimeout(() => poll(sid), 500);
}

function openCall(sid) {
  const panel = document.getElementById("call-panel");
  if (!panel) return;
  panel.hidden = false;
  panel.querySelector(".error")?.remove();
  document.getElementById("call-sid").textContent = sid;
  following = sid;
  poll(sid);
}

function phone() {
  const panel = document.getElementById("call-panel");
  if (!panel) return;
  document.addEventListener("click", (e) => {
    const open = e.target.closest("[data-open-call]");
    if (open) {
      e.preventDefault();
      openCall(open.dataset.openCall);
    }
  });
  const sid = () => document.getElementById("call-sid").textContent;
  for (const b of panel.querySelectorAll("[data-key]")) {
    b.addEventListener("click", () => post(`/console/phones/calls/${sid()}/digits`, { Digits: b.dataset.key }));
  }
  for (const b of panel.querySelectorAll("[data-call-action]")) {
    b.addEventListener("click", () => post(`/console/phones/calls/${sid()}/${b.dataset.callAction}`, {}));
  }
  document.getElementById("speak").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = e.target.elements.Text;
    post(`/console/phones/calls/${sid()}/speech`, { Text: input.value });
    input.value = "";
  });
  const live = [...document.querySelectorAll("table[data-phone] tr[data-sid]")].find((tr) =>
    LIVE.has(tr.querySelector("td.st")?.textContent.trim()));
  if (live) openCall(live.dataset.sid);
}

function live() {
  const watched = document.querySelector("table[data-live], h1[data-call], h1[data-message]");
  if (!watched || !window.EventSource) return;
  const source = new EventSource("/console/live");
  for (const kind of ["call", "message", "notification"]) {
    source.addEventListener(kind, (e) => show(kind, JSON.parse(e.data)));
  }
  document.body.dataset.live = "connecting";
  source.onopen = () => { document.body.dataset.live = "open"; };
}

function revealToken() {
  const button = document.getElementById("reveal-token");
  if (!button) return;
  button.addEventListener("click", async () => {
    const r = await fetch("/console/account/token", { method: "POST", headers: { "X-CSRF-Token": csrf() } });
    if (!r.ok) return;
    document.getElementById("auth-token").textContent = (await r.json()).auth_token;
    button.remove();
  });
}

document.addEventListener("DOMContentLoaded", () => { live(); revealToken(); phone(); });
