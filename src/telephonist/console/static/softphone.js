// The console's browser phone: the same ES module and access tokens as an app's own page.
import { Device } from "/webrtc/v1/telephonist.js";

const $ = (id) => document.getElementById(id);
const csrf = document.querySelector('meta[name="csrf"]').content;
let device = null;
let current = null;

function state(text) {
  $("softphone-state").textContent = text;
}

function follow(call) {
  current = call;
  $("softphone-live").hidden = false;
  $("softphone-call-state").textContent = "connecting";
  call.on("accept", () => { $("softphone-call-state").textContent = "in progress"; });
  for (const name of ["disconnect", "cancel", "reject", "error"]) {
    call.on(name, () => {
      $("softphone-live").hidden = true;
      $("softphone-incoming").hidden = true;
      state(`Ready as client:${device.identity} (last call: ${name})`);
      current = null;
    });
  }
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const r = await fetch("/console/softphone/token", {
    method: "POST",
    headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(new FormData(form)),
  });
  const body = await r.json();
  if (!r.ok) {
    state(`${body.message} (${body.code})`);
    return;
  }
  if (device) device.destroy();
  device = new Device(body.token);
  device.on("incoming", (call) => {
    $("softphone-from").textContent = call.parameters.From;
    $("softphone-incoming").hidden = false;
    $("softphone-accept").onclick = () => { $("softphone-incoming").hidden = true; follow(call); call.accept(); };
    $("softphone-reject").onclick = () => { $("softphone-incoming").hidden = true; call.reject(); };
    call.on("cancel", () => { $("softphone-incoming").hidden = true; });
  });
  device.on("error", (e) => state(`${e.message} (${e.code})`));
  await device.register();
  state(`Ready as client:${device.identity}`);
  $("softphone-call").hidden = !form.elements.OutgoingApplicationSid.value;
}

$("softphone-signin").addEventListener("submit", signIn);
$("softphone-call").addEventListener("submit", async (event) => {
  event.preventDefault();
  follow(await device.connect({ params: { To: event.target.elements.To.value } }));
});
$("softphone-hangup").addEventListener("click", () => current && current.disconnect());
$("softphone-mute").addEventListener("click", (event) => {
  if (!current) return;
  current.mute(!current.isMuted());
  event.target.textContent = current.isMuted() ? "Unmute" : "Mute";
});
for (const b of document.querySelectorAll("[data-softkey]")) {
  b.addEventListener("click", () => current && current.sendDigits(b.dataset.softkey));
}
