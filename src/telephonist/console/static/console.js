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

function show(kind, item) {
  for (const table of document.querySelectorAll(`table[data-live="${kind}"]`)) {
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
    tr.append(...rows[kind](item));
    body.prepend(tr);
  }
  // A call or message page follows its own resource: a new status redraws the page.
  const heading = document.querySelector(`h1[data-${kind}="${item.sid}"]`);
  if (heading && heading.dataset.status !== item.status) location.reload();
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

document.addEventListener("DOMContentLoaded", () => { live(); revealToken(); });
