// Telephonist's browser phone: a Device and its Calls, in the manner of Twilio's Voice SDK, over plain
// WebRTC (RTCPeerConnection, getUserMedia) and a WebSocket to Telephonist. No build step: import it.
//
//   import { Device } from "https://telephonist.example/webrtc/v1/telephonist.js";
//   const device = new Device(token);
//   device.on("incoming", (call) => call.accept());
//   await device.register();
//   const call = await device.connect({ params: { To: "+15551230000" } });
//
// The access token goes in the first message on the socket, never in a URL.

class Emitter {
  constructor() {
    this._handlers = new Map();
  }

  on(name, handler) {
    if (!this._handlers.has(name)) this._handlers.set(name, []);
    this._handlers.get(name).push(handler);
    return this;
  }

  once(name, handler) {
    const wrapped = (...args) => {
      this.off(name, wrapped);
      handler(...args);
    };
    return this.on(name, wrapped);
  }

  off(name, handler) {
    const list = this._handlers.get(name) || [];
    this._handlers.set(name, list.filter((h) => h !== handler));
    return this;
  }

  emit(name, ...args) {
    for (const handler of [...(this._handlers.get(name) || [])]) handler(...args);
  }
}

// A Telephonist error: Twilio's code (20104 token expired, 31486 busy…) and its message.
export class TelephonistError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const KEYS = /^[0-9*#A-D]*$/i;

function newId() {
  return "c" + Math.random().toString(36).slice(2) + Date.now().toString(36);
}

// Our offer carries every candidate (nothing trickles): wait for gathering, a few seconds at most.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 3000);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export class Device extends Emitter {
  // options.url: the signalling WebSocket (default: beside this module);
  // options.audioConstraints: getUserMedia's audio constraints (default true).
  constructor(token, options = {}) {
    super();
    this.token = token;
    const here = new URL("signal", import.meta.url);
    here.protocol = here.protocol === "https:" ? "wss:" : "ws:";
    this.url = options.url || here.href;
    this.audioConstraints = options.audioConstraints ?? true;
    this.identity = null;
    this.state = "unregistered";
    this.calls = new Map();
    this._socket = null;
    this._ready = null;
  }

  async register() {
    await this._open();
    if (this.state === "registered") return;
    this.state = "registering";
    this.emit("registering");
    const done = this._next("registered");
    this._send({ type: "register" });
    await done;
  }

  async unregister() {
    if (!this._socket) return;
    const done = this._next("unregistered");
    this._send({ type: "unregister" });
    await done;
  }

  // A call through the token's Application: its VoiceUrl gets `params` (To, and any of your own).
  async connect({ params = {} } = {}) {
    await this._open();
    const parameters = { From: `client:${this.identity}`, To: params.To || "" };
    const call = new Call(this, newId(), "OUTGOING", parameters);
    call.customParameters = new Map(Object.entries(params));
    this.calls.set(call.id, call);
    try {
      const sdp = await call._offer();
      this._send({ type: "connect", call: call.id, params, sdp });
    } catch (err) {
      call._fail(err);
    }
    return call;
  }

  updateToken(token) {
    this.token = token;
    if (this._socket && this._socket.readyState === WebSocket.OPEN) this._send({ type: "token", token });
  }

  disconnectAll() {
    for (const call of [...this.calls.values()]) call.disconnect();
  }

  destroy() {
    this.disconnectAll();
    if (this._socket) this._socket.close();
    this._socket = null;
    this._ready = null;
    this.state = "destroyed";
    this.emit("destroyed");
  }

  _open() {
    if (this._ready) return this._ready;
    this._ready = new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this._socket = socket;
      let signedIn = false;
      socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: this.token }));
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (!signedIn && message.type === "ready") {
          signedIn = true;
          this.identity = message.identity;
          resolve();
        } else if (!signedIn && message.type === "error") {
          reject(new TelephonistError(message.code, message.message));
        }
        this._message(message);
      };
      socket.onclose = () => {
        if (!signedIn) reject(new TelephonistError(31005, "Connection error"));
        if (this._socket === socket) {
          this._socket = null;
          this._ready = null;
        }
        for (const call of [...this.calls.values()]) {
          call._close(call._status === "pending" ? "cancel" : "disconnect");
        }
        if (this.state === "registered") {
          this.state = "unregistered";
          this.emit("unregistered");
        }
      };
    });
    return this._ready;
  }

  // The next event `name` of this device, or its next error.
  _next(name) {
    return new Promise((resolve, reject) => {
      const ok = () => {
        this.off("error", failed);
        resolve();
      };
      const failed = (err) => {
        this.off(name, ok);
        reject(err);
      };
      this.once(name, ok);
      this.once("error", failed);
    });
  }

  _send(message) {
    const socket = this._socket;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  _message(m) {
    const call = m.call ? this.calls.get(m.call) : undefined;
    switch (m.type) {
      case "registered":
      case "unregistered":
        this.state = m.type;
        this.emit(m.type);
        break;
      case "incoming": {
        const incoming = new Call(this, m.call, "INCOMING", { CallSid: m.call_sid, From: m.from, To: m.to });
        incoming.customParameters = new Map(Object.entries(m.params || {}));
        this.calls.set(incoming.id, incoming);
        this.emit("incoming", incoming);
        break;
      }
      case "answer":
        if (call) call._answered(m);
        break;
      case "call":
        if (call) call.parameters.CallSid = m.call_sid;
        break;
      case "accepted":
        if (call) call._open();
        break;
      case "cancel":
        if (call && call._status !== "open") call._close("cancel");
        break;
      case "hangup":
        if (call) call._close("disconnect", m.reason);
        break;
      case "error": {
        const error = new TelephonistError(m.code, m.message);
        if (call) call._fail(error);
        else this.emit("error", error);
        break;
      }
    }
  }
}

export class Call extends Emitter {
  constructor(device, id, direction, parameters) {
    super();
    this.device = device;
    this.id = id;
    this.direction = direction;
    this.parameters = parameters;
    this.customParameters = new Map();
    this.remoteStream = new MediaStream(); // what the other party says: play it, measure it
    this.localStream = null; // the microphone, once the call has it
    this._status = "pending";
    this._pc = null;
    this._muted = false;
    // A remote WebRTC stream only sounds (and only reaches the Web Audio API, in Chromium) once played.
    this._speaker = new Audio();
    this._speaker.autoplay = true;
    this._speaker.srcObject = this.remoteStream;
  }

  status() {
    return this._status;
  }

  async accept() {
    if (this._status !== "pending") return;
    this._status = "connecting";
    try {
      const sdp = await this._offer();
      if (this._status === "connecting") this.device._send({ type: "accept", call: this.id, sdp });
    } catch (err) {
      this._fail(err);
    }
  }

  reject() {
    if (this._status !== "pending") return;
    this.device._send({ type: "reject", call: this.id });
    this._close("reject");
  }

  // Stop ringing here only: the call goes on ringing the other tabs.
  ignore() {
    if (this._status === "pending") this._close("cancel");
  }

  disconnect() {
    if (this._status === "closed") return;
    this.device._send({ type: this._status === "pending" ? "reject" : "hangup", call: this.id });
    this._close("disconnect");
  }

  sendDigits(digits) {
    if (!KEYS.test(digits)) throw new TelephonistError(31106, `Invalid digits: ${digits}`);
    this.device._send({ type: "dtmf", call: this.id, digits });
  }

  mute(muted = true) {
    this._muted = muted;
    if (this.localStream) for (const track of this.localStream.getAudioTracks()) track.enabled = !muted;
    this.emit("mute", muted, this);
  }

  isMuted() {
    return this._muted;
  }

  async _offer() {
    try {
      this.localStream = await navigator.mediaDevices.getUserMedia({ audio: this.device.audioConstraints });
    } catch (err) {
      throw new TelephonistError(31201, `Error occurred while accessing microphone: ${err.message}`);
    }
    this.mute(this._muted);
    const pc = new RTCPeerConnection({ iceServers: [] });
    this._pc = pc;
    for (const track of this.localStream.getAudioTracks()) pc.addTrack(track, this.localStream);
    pc.ontrack = (event) => {
      this.remoteStream.addTrack(event.track);
      this._speaker.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") this._fail(new TelephonistError(53405, "Media connection failed"));
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    return pc.localDescription.sdp;
  }

  async _answered(m) {
    if (m.call_sid) this.parameters.CallSid = m.call_sid;
    if (!this._pc || this._status === "closed") return;
    try {
      await this._pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    } catch (err) {
      this._fail(new TelephonistError(53402, `Client is unable to apply a remote media description: ${err}`));
    }
  }

  _open() {
    if (this._status === "closed" || this._status === "open") return;
    this._status = "open";
    this.emit("accept", this);
  }

  _fail(error) {
    if (this._status === "closed") return;
    this.device._send({ type: "hangup", call: this.id });
    this.emit("error", error);
    this._close("disconnect");
  }

  _close(event, reason) {
    if (this._status === "closed") return;
    this._status = "closed";
    this.reason = reason;
    this.device.calls.delete(this.id);
    if (this._pc) this._pc.close();
    if (this.localStream) for (const track of this.localStream.getTracks()) track.stop();
    this._speaker.srcObject = null;
    this.emit(event, this);
  }
}
