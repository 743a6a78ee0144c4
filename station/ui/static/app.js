// stationd operator UI and technician console. Plain JavaScript, no build
// step: it speaks the websocket protocol of docs/api.md.
"use strict";

const S = {
  lang: localStorage.getItem("stationd.lang") || "vi",
  dict: {},
  auth: null, // /api/whoami answer
  user: null, // {name, role}
  ws: null,
  connected: false,
  nextId: 1,
  pending: new Map(),
  commands: new Set(),
  station: "",
  devices: new Map(), // id -> {info, state, detail, since}
  counters: new Map(), // id -> {events, errors, lastError, lastErrorTime}
  outbox: null,
  uplink: { state: "", lastSync: null },
  mode: "enroll",
  step: "applicant",
  session: null,
  openSessions: [],
  busy: null, // {label, start}
  error: null, // {code, message}
  notice: null,
  fingerPos: 0,
  fingerResult: null,
  fingerImgs: {}, // position -> object URL of the latest image
  bestImgs: {}, // position -> object URL of the kept image
  face: { meta: null, url: null, result: null },
  faceURL: null,
  card: null,
  packet: null,
  form: {}, // input values by id, kept across re-renders
  tech: {}, // device id -> {busy, result, error}
  previewMeta: null, // JSON part of a preview awaiting its binary frame
  // Fingers: "slap" (4-4-2 on the slap scanner) or "flat" (one by one);
  // "" takes slaps when the booth has a slap scanner.
  fingerMode: localStorage.getItem("stationd.fingerMode") || "",
  slap: "", // the slap chosen; "" is the next one still needed
  slapResult: null, // the last session.slap.capture reply
  slapCount: 0,
  slapURL: null, slapMeta: null, // the last preview.slap image
  stored: null, // session.images: what the session keeps, for review and after a reload
  // The enrollment this tab was on before a reload: resumed after hello.
  restore: sessionStorage.getItem("stationd.session") ? { id: sessionStorage.getItem("stationd.session"), step: sessionStorage.getItem("stationd.step") } : null,
};

const STEPS = ["applicant", "face", "fingers", "card", "review", "done"];
const app = () => document.getElementById("app");

// ---- i18n ------------------------------------------------------------

function t(key, vars) {
  let s = (S.dict[S.lang] && S.dict[S.lang][key]) ?? (S.dict.en && S.dict.en[key]) ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll("{" + k + "}", v);
  return s;
}
function reason(r) {
  const k = "reason." + r;
  const v = t(k);
  return v === k ? r : v;
}
function fingerName(pos) { return t("finger." + pos); }
function setLang(l) {
  S.lang = l;
  localStorage.setItem("stationd.lang", l);
  document.documentElement.lang = l;
  renderAll();
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// ---- HTTP: login -------------------------------------------------------

async function whoami() {
  const r = await fetch("/api/whoami", { credentials: "same-origin" });
  S.auth = await r.json();
  return S.auth;
}

async function doLogin(ev) {
  ev.preventDefault();
  const body = {};
  const user = S.form["login-user"] || "";
  if (user) { body.user = user; body.password = S.form["login-password"] || ""; }
  else body.token = (S.form["login-token"] || "").trim();
  S.error = null;
  const r = await fetch("/api/login", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (r.status === 429) { S.error = { code: "locked", message: t("login.locked") }; renderAll(); return; }
  if (!r.ok) {
    S.error = { code: "login", message: t("login.failed") };
    S.form["login-password"] = ""; S.form["login-token"] = "";
    renderAll();
    return;
  }
  S.form["login-password"] = ""; S.form["login-token"] = "";
  await whoami();
  connect();
}

async function doLogout() {
  await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
  if (S.ws) { S.ws.onclose = null; S.ws.close(); }
  S.ws = null; S.connected = false; S.user = null;
  resetEnrollment();
  await whoami();
  renderAll();
}

// ---- websocket -------------------------------------------------------

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/ws");
  ws.binaryType = "blob";
  S.ws = ws;
  ws.onmessage = (m) => {
    if (typeof m.data !== "string") { onBinary(m.data); return; }
    let e;
    try { e = JSON.parse(m.data); } catch { return; }
    onMessage(e);
  };
  ws.onclose = async () => {
    if (S.ws !== ws) return;
    S.connected = false;
    for (const p of S.pending.values()) p.reject({ code: "failed", message: "connection lost" });
    S.pending.clear();
    renderStatus();
    renderBanner();
    const a = await whoami().catch(() => null);
    if (a && a.auth_required && !a.authenticated) { S.ws = null; renderAll(); return; }
    setTimeout(() => { if (S.ws === ws) connect(); }, 1000);
  };
}

function send(type, payload) {
  return new Promise((resolve, reject) => {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) { reject({ code: "failed", message: "not connected" }); return; }
    const id = "r" + S.nextId++;
    S.pending.set(id, { resolve, reject });
    S.ws.send(JSON.stringify({ v: 1, type, id, payload: payload || {} }));
  });
}

function onMessage(e) {
  if (e.id && S.pending.has(e.id)) {
    const p = S.pending.get(e.id);
    S.pending.delete(e.id);
    if (e.type === "error") p.reject(e.payload || { code: "failed", message: "" });
    else p.resolve(e.payload || {});
    return;
  }
  const p = e.payload || {};
  switch (e.type) {
    case "hello":
      S.connected = true;
      S.station = p.station || "";
      S.user = p.user || null;
      S.commands = new Set(p.commands || []);
      S.devices.clear();
      for (const d of p.devices || []) S.devices.set(d.info.id, d);
      renderAll();
      // Preview flow control: at most two frames ahead of what is shown,
      // so a busy browser sees fewer but fresh frames (docs/api.md).
      send("preview.window", { frames: 2 }).catch(() => {});
      afterHello();
      break;
    case "devices.snapshot":
    case "devices.list.result":
      S.devices.clear();
      for (const d of p.devices || []) S.devices.set(d.info.id, d);
      renderStatus(); renderTech();
      break;
    case "device.added": case "device.removed": case "device.state":
      onDeviceEvent(e.type, p);
      break;
    case "session.started": case "session.updated": case "session.finalized": case "session.abandoned":
      if (S.session && p.id === S.session.id) { setSession(p); renderMain(); }
      break;
    case "outbox.status":
      S.outbox = p; renderStatus();
      break;
    case "uplink.status":
      S.uplink.state = p.state || S.uplink.state;
      if (p.last_sync) S.uplink.lastSync = new Date(p.last_sync);
      renderStatus();
      break;
    case "uplink.ack":
      S.uplink.lastSync = new Date(e.time || Date.now());
      if (!S.uplink.state) S.uplink.state = "connected";
      renderStatus();
      break;
    case "preview.face": case "preview.finger": case "preview.slap":
      S.previewMeta = { type: e.type, payload: p, time: e.time };
      break;
    case "device.counters":
      setCounter(p); renderTech();
      break;
    case "preview.portrait":
      S.previewMeta = { type: e.type, payload: p };
      break;
    case "tech.progress":
      if (S.tech[p.device]) { S.tech[p.device].progress = p; renderTech(); }
      break;
    case "capture.face.result":
      S.face.result = p; renderMain();
      break;
    case "capture.finger.result":
      // A capture the officer started with the foot pedal, not from here.
      if (S.session && p.session === S.session.id && !S.busy) {
        S.fingerResult = p;
        if (p.summary) setSession(p.summary);
        if (p.done) S.fingerPos = S.session.next_finger || p.position;
        renderMain();
      }
      break;
    case "capture.finger.lifted":
      // The finger left the glass: the next one may be placed.
      S.liftedSeq = Math.max(S.liftedSeq || 0, p.capture_seq || 0);
      document.querySelector("#finger-result")?.setAttribute("data-lifted", lifted(S.fingerResult) ? "1" : "0");
      break;
    case "capture.finger.waiting":
      if (S.session && p.session === S.session.id) {
        // A capture started elsewhere (the foot pedal) moves the page to its
        // finger. The notice of a capture of this page's can arrive after the
        // capture's own reply; by then the finger is done and the page has
        // moved on, so a notice for a done finger is stale.
        const f = (S.session.fingers || []).find((x) => x.position === p.position);
        if (f && f.done && !S.busy) break;
        S.fingerPos = p.position; renderMain();
      }
      break;
  }
}

// setSession takes a session summary from a reply or an event. Replies and
// events reach the page by different paths and can overtake each other, so
// an older state (lower rev) of the open session never replaces a newer one.
function setSession(s) {
  if (!s) return;
  if (S.session && s.id === S.session.id && (s.rev || 0) < (S.session.rev || 0)) return;
  S.session = s;
}

// lifted tells whether the finger of capture result r has left the glass.
function lifted(r) {
  return !!r && !!r.capture_seq && (S.liftedSeq || 0) >= r.capture_seq;
}

function onDeviceEvent(type, ev) {
  const id = ev.device.id;
  if (!S.commands.has("device.counters")) {
    // An older stationd keeps no counters: count what this page sees.
    const c = S.counters.get(id) || { events: 0, errors: 0, lastError: "", lastErrorTime: null };
    c.events++;
    if (ev.state === "error" || (type === "device.removed" && ev.detail)) {
      c.errors++;
      c.lastError = ev.detail || ev.state;
      c.lastErrorTime = new Date(ev.time || Date.now());
    }
    S.counters.set(id, c);
  }
  S.devices.set(id, { info: ev.device, state: ev.state, detail: ev.detail || "", since: ev.time });
  renderStatus(); renderTech();
}

// Preview statistics: frames shown and the delay from stationd publishing
// a frame (its envelope time) to the browser having decoded it. The face
// step shows the frame rate; window.stationdPreview lets a technician (or
// a benchmark) read them from the browser console.
const previewStats = { frames: 0, latencies: [], times: [] };
window.stationdPreview = previewStats;
function previewShown(sent) {
  const now = Date.now();
  previewStats.frames++;
  if (sent) previewStats.latencies.push(now - Date.parse(sent));
  previewStats.times.push(now);
  if (previewStats.latencies.length > 600) previewStats.latencies.splice(0, 300);
  while (previewStats.times.length && previewStats.times[0] < now - 1000) previewStats.times.shift();
  const el = document.getElementById("face-fps");
  if (el) el.textContent = previewStats.times.length + " fps";
}

// setCounter keeps one device's counters as stationd sends them
// (device.counters): the same for every page, and after a reload.
function setCounter(p) {
  if (!p || !p.device) return;
  S.counters.set(p.device, { server: true, attempts: p.attempts || 0, captures: p.captures || 0, errors: p.errors || 0, events: p.events || 0,
    lastError: p.last_error || "", lastErrorTime: p.last_error_time ? new Date(p.last_error_time) : null });
}

async function loadCounters() {
  if (!S.commands.has("device.counters") || !S.user || S.user.role !== "technician") return;
  try {
    const r = await send("device.counters");
    for (const c of r.counters || []) setCounter(c);
    renderTech();
  } catch { /* shown as unknown */ }
}

// loadImages asks stationd what the session keeps (portrait, each
// finger's kept image, photos of excused hands): after a reload the page
// has none of the previews it was sent.
async function loadImages() {
  if (!S.session || !S.commands.has("session.images")) return;
  const id = S.session.id;
  try {
    const r = await send("session.images", { session: id });
    if (!S.session || S.session.id !== id) return;
    const st = { face: null, fingers: {}, exceptions: {}, slaps: [] };
    for (const im of r.images || []) {
      if (im.kind === "face") st.face = im;
      else if (im.kind === "finger") st.fingers[im.position] = im;
      else if (im.kind === "exception") st.exceptions[im.position] = im;
      else if (im.kind === "slap") st.slaps.push(im);
    }
    S.stored = st;
    renderMain();
  } catch { /* the previews, if any, stay */ }
}

function ackPreview() {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify({ v: 1, type: "preview.ack" }));
}

function onBinary(blob) {
  const meta = S.previewMeta;
  S.previewMeta = null;
  if (!meta) { ackPreview(); return; }
  const url = URL.createObjectURL(blob);
  if (meta.type === "preview.portrait") {
    if (S.portraitURL) URL.revokeObjectURL(S.portraitURL);
    S.portraitURL = url;
    ackPreview();
    if (S.step === "face" || S.step === "review") renderMain();
    return;
  }
  if (meta.type === "preview.slap") {
    if (S.slapURL) URL.revokeObjectURL(S.slapURL);
    S.slapURL = url; S.slapMeta = meta.payload;
    ackPreview();
    if (S.step === "fingers" && S.slapResult) renderMain();
    return;
  }
  if (meta.type === "preview.face") {
    const old = S.face.url;
    S.face.url = url; S.face.meta = meta.payload;
    drawFace();
    const img = document.getElementById("face-img");
    // Acknowledge once the frame is decoded and on screen.
    if (img && img.decode) img.decode().then(() => { previewShown(meta.time); ackPreview(); }, ackPreview); else ackPreview();
    if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
  } else {
    const pos = meta.payload.position;
    const old = S.fingerImgs[pos];
    S.fingerImgs[pos] = url;
    if (old && old !== S.bestImgs[pos]) setTimeout(() => URL.revokeObjectURL(old), 1000);
    const img = document.getElementById("finger-img");
    if (img && S.fingerPos === pos) img.src = url;
    ackPreview();
  }
}

async function afterHello() {
  if (S.commands.has("outbox.status")) {
    try { S.outbox = await send("outbox.status"); renderStatus(); } catch { /* shown as unknown */ }
  }
  loadCounters();
  if (S.restore && !S.session && S.commands.has("session.get")) {
    // The page was reloaded in the middle of an enrollment: go back to it.
    const r = S.restore;
    S.restore = null;
    try {
      setSession(await send("session.get", { session: r.id }));
      S.step = S.session.state === "review" ? "review" : STEPS.includes(r.step) && r.step !== "applicant" && r.step !== "done" ? r.step : "face";
      renderAll();
      loadImages();
      return;
    } catch { /* finalized or abandoned meanwhile */ }
  }
  if (S.commands.has("session.list") && !S.session) {
    try { S.openSessions = (await send("session.list")).sessions || []; renderMain(); } catch { /* none */ }
  }
}

// ---- commands with progress -----------------------------------------

async function run(label, type, payload) {
  S.busy = { label, start: Date.now() };
  S.error = null;
  renderMain();
  try {
    return await send(type, payload);
  } catch (err) {
    S.error = err;
    throw err;
  } finally {
    S.busy = null;
    renderMain();
  }
}

function errorText(err) {
  if (!err) return "";
  const k = "err." + err.code;
  const head = t(k) === k ? err.code || t("err.failed") : t(k);
  return head + (err.message ? " — " + err.message : "");
}

setInterval(() => {
  const el = document.getElementById("busy-secs");
  if (el && S.busy) el.textContent = t("working", { s: Math.floor((Date.now() - S.busy.start) / 1000) });
}, 250);

// ---- enrollment actions ---------------------------------------------

function resetEnrollment() {
  S.session = null; S.step = "applicant"; S.fingerPos = 0; S.fingerResult = null;
  for (const u of Object.values(S.fingerImgs)) URL.revokeObjectURL(u);
  S.fingerImgs = {}; S.bestImgs = {}; S.face.result = null;
  if (S.portraitURL) URL.revokeObjectURL(S.portraitURL);
  S.portraitURL = null; S.card = null; S.packet = null; S.error = null; S.notice = null;
  S.form["applicant"] = "";
  S.slap = ""; S.slapResult = null; S.stored = null;
  if (S.slapURL) URL.revokeObjectURL(S.slapURL);
  S.slapURL = null; S.slapMeta = null;
}

const act = {
  async start() {
    const ref = (S.form["applicant"] || "").trim();
    if (!ref) { document.getElementById("applicant")?.focus(); return; }
    try {
      let operator = S.user && S.user.name;
      if (needOperator()) {
        operator = (S.form["operator"] || "").trim();
        if (!operator) { document.getElementById("operator")?.focus(); return; }
        localStorage.setItem("stationd.operator", operator);
      }
      setSession(await run(t("applicant.start"), "session.start", { applicant: ref, operator }));
      S.step = "face";
      renderAll();
    } catch { /* shown */ }
  },
  async resume(el) {
    try {
      setSession(await run(t("applicant.resume"), "session.get", { session: el.dataset.id }));
      S.step = S.session.state === "review" ? "review" : "face";
      renderAll();
      loadImages();
    } catch { /* shown */ }
  },
  fingerMode(el) {
    S.fingerMode = el.dataset.mode;
    localStorage.setItem("stationd.fingerMode", S.fingerMode);
    S.error = null;
    renderMain();
  },
  selectSlap(el) { S.slap = el.dataset.slap; S.error = null; renderMain(); },
  async slapCapture() {
    const k = currentSlap();
    if (!slapFingers(k).length) return;
    try {
      const r = await run(t("slap.place", { slap: t("slap." + k) }), "session.slap.capture", { session: S.session.id, slap: k });
      S.slapResult = r; S.slapCount++;
      if (r.summary) setSession(r.summary);
      // Done with this slap: the next capture takes the next one needed.
      S.slap = slapFingers(k).every((p) => fingerOf(p)?.done) ? "" : k;
      renderMain();
      // The image and the scores, not the hand diagram, are what to look at now.
      document.getElementById("slap-result")?.scrollIntoView({ block: "start" });
      loadImages();
    } catch { /* shown */ }
  },
  slapRetake() {
    if (!S.slapResult) return;
    S.slap = S.slapResult.slap;
    act.slapCapture();
  },
  async faceCapture(el) {
    const payload = { session: S.session.id };
    if (el && el.dataset.manual) payload.manual = true;
    try {
      const r = await run(t("face.capture"), "session.face.capture", payload);
      S.face.result = r;
      if (r.summary) setSession(r.summary);
      else if (r.session && typeof r.session === "object") setSession(r.session);
      renderMain();
    } catch { /* shown */ }
  },
  selectFinger(el) {
    S.fingerPos = +el.dataset.pos; S.fingerResult = null; S.error = null;
    renderMain();
  },
  async fingerCapture() {
    const pos = currentFinger();
    if (!pos) return;
    S.fingerResult = null;
    try {
      const r = await run(t("fingers.place", { finger: fingerName(pos) }), "session.finger.capture", { session: S.session.id, position: pos });
      S.fingerResult = r;
      if (r.kept && S.fingerImgs[pos]) S.bestImgs[pos] = S.fingerImgs[pos];
      if (r.summary) setSession(r.summary);
      if (r.done) S.fingerPos = S.session.next_finger || pos;
      renderMain();
    } catch { /* shown */ }
  },
  exceptOpen() {
    const d = document.getElementById("except-dialog");
    if (d && !d.open) { d.showModal(); document.getElementById("except-kind").focus(); }
  },
  exceptCancel() { document.getElementById("except-dialog")?.close(); },
  async exceptSave(el, ev) {
    ev && ev.preventDefault();
    const pos = currentFinger();
    const kind = document.getElementById("except-kind").value;
    const why = document.getElementById("except-reason").value.trim();
    if (!why) { document.getElementById("except-reason").focus(); return; }
    document.getElementById("except-dialog").close();
    try {
      const payload = { session: S.session.id, position: pos, kind, reason: why };
      // A photo of the hand from the booth's camera, when the officer ticks it
      // (the policy may require one).
      if (document.getElementById("except-photo")?.checked) payload.photo = "camera";
      setSession(await run(t("fingers.except"), "session.finger.except", payload));
      S.fingerResult = null;
      S.fingerPos = S.session.next_finger || pos;
      renderMain();
    } catch { /* shown */ }
  },
  async exceptClear() {
    const pos = currentFinger();
    try {
      setSession(await run(t("fingers.clear"), "session.finger.clear", { session: S.session.id, position: pos }));
      renderMain();
    } catch { /* shown */ }
  },
  async cardRead() {
    const p = { session: S.session.id };
    if (S.form["card-can"]) p.can = S.form["card-can"].trim();
    else { p.document = (S.form["card-document"] || "").trim(); p.birth = (S.form["card-birth"] || "").trim(); p.expiry = (S.form["card-expiry"] || "").trim(); }
    try {
      S.card = await run(t("card.reading"), "session.card", p);
      if (S.card.summary) setSession(S.card.summary);
      renderMain();
    } catch { /* shown */ }
  },
  async cardWrite() {
    const f = (k) => (S.form[k] || "").trim();
    const p = { session: S.session.id, can: f("card-can"), mrz: {
      format: "TD1", document_code: "ID", issuing_state: "VNM", nationality: "VNM",
      document_number: f("card-document").toUpperCase(), birth_date: f("card-birth"), expiry_date: f("card-expiry"),
      sex: f("card-sex") || "<", primary_name: f("card-surname").toUpperCase(), secondary_name: f("card-given").toUpperCase(), optional1: f("card-optional"),
    } };
    try {
      S.card = await run(t("card.personalize"), "session.card.personalize", p);
      if (S.card.summary) setSession(S.card.summary);
      renderMain();
    } catch { /* shown */ }
  },
  goto(el) { go(el.dataset.step); },
  next() {
    const i = STEPS.indexOf(S.step);
    if (i >= 0 && i < STEPS.length - 2) go(STEPS[i + 1]);
  },
  back() {
    const i = STEPS.indexOf(S.step);
    if (S.step === "review") { act.reviewBack(); return; }
    if (i > 1 && S.step !== "done") go(STEPS[i - 1]);
  },
  async reviewBack() {
    try {
      if (S.session.state === "review") setSession(await run(t("review.back"), "session.back", { session: S.session.id }));
      S.step = "fingers";
      renderAll();
    } catch { /* shown */ }
  },
  async finalize() {
    try {
      const r = await run(t("review.finalizing"), "session.finalize", { session: S.session.id });
      sessionStorage.removeItem("stationd.session");
      S.packet = r;
      S.step = "done";
      renderAll();
    } catch { /* shown */ }
  },
  nextPerson() {
    resetEnrollment();
    renderAll();
    document.getElementById("applicant")?.focus();
  },
  abandonOpen() {
    const d = document.getElementById("abandon-dialog");
    if (d && !d.open) { d.showModal(); document.getElementById("abandon-reason").focus(); }
  },
  abandonCancel() { document.getElementById("abandon-dialog")?.close(); },
  async abandonSave(el, ev) {
    ev && ev.preventDefault();
    const why = document.getElementById("abandon-reason").value.trim();
    if (!why) return;
    document.getElementById("abandon-dialog").close();
    try {
      await run(t("abandon"), "session.abandon", { session: S.session.id, reason: why });
      resetEnrollment();
      renderAll();
    } catch { /* shown */ }
  },
  lang() { setLang(S.lang === "vi" ? "en" : "vi"); },
  mode(el) { S.mode = el.dataset.mode; renderAll(); if (S.mode === "tech") { loadTechChecks(); loadCounters(); } },
  logout() { doLogout(); },
  async tech(el) {
    const id = el.dataset.device, cmd = el.dataset.cmd;
    const st = (S.tech[id] = { busy: cmd, start: Date.now(), result: null, error: null });
    renderTech();
    try {
      st.result = await send(cmd, { device: id });
    } catch (err) {
      st.error = err;
    }
    st.busy = null;
    renderTech();
  },
};

async function go(step) {
  if (!S.session) return;
  if (step === "review") {
    try {
      if (S.session.state !== "review") setSession(await run(t("review.title"), "session.review", { session: S.session.id }));
    } catch {
      S.step = "review"; // shows what is missing
      renderAll();
      loadImages();
      return;
    }
    loadImages();
  } else if (S.session.state === "review" && step !== "done") {
    try { setSession(await run(t("review.back"), "session.back", { session: S.session.id })); } catch { return; }
  }
  S.step = step;
  S.error = null;
  renderAll();
  const first = app().querySelector("main [autofocus], main button.primary");
  if (first) first.focus();
}

function currentFinger() {
  if (!S.session) return 0;
  if (S.fingerPos) return S.fingerPos;
  return S.session.next_finger || (S.session.fingers[0] && S.session.fingers[0].position) || 0;
}

// ---- rendering -----------------------------------------------------

function renderAll() {
  document.documentElement.lang = S.lang;
  document.title = t("app.title") + (S.station ? " · " + S.station : "");
  if (!S.auth) { app().innerHTML = ""; return; }
  if (S.auth.auth_required && !S.auth.authenticated) { renderLogin(); return; }
  app().innerHTML = `<header></header><div id="banner"></div><main id="main"></main><footer class="status" id="status" role="status"></footer>`;
  renderHeader(); renderBanner(); renderMain(); renderStatus();
}

function renderHeader() {
  const h = app().querySelector("header");
  if (!h) return;
  const tech = S.user && S.user.role === "technician";
  h.innerHTML = `<h1>${esc(t("app.title"))}${S.station ? " · " + esc(S.station) : ""}</h1>
    <button data-act="mode" data-mode="enroll" id="mode-enroll" aria-pressed="${S.mode === "enroll"}">${esc(t("mode.enroll"))}</button>
    ${tech ? `<button data-act="mode" data-mode="tech" id="mode-tech" aria-pressed="${S.mode === "tech"}">${esc(t("mode.tech"))}</button>` : ""}
    <button data-act="lang" id="lang" title="Alt+L" lang="${S.lang === "vi" ? "en" : "vi"}">${esc(t("lang.switch"))}</button>
    <span>${esc(S.user && S.user.name ? S.user.name + " (" + S.user.role + ")" : "")}</span>
    ${S.auth && S.auth.auth_required ? `<button data-act="logout" id="logout">${esc(t("logout"))}</button>` : ""}`;
}

function renderBanner() {
  const b = document.getElementById("banner");
  if (!b) return;
  b.innerHTML = S.connected ? "" : `<div class="banner fail" role="alert">${esc(t("conn.lost"))}</div>`;
}

function renderLogin() {
  const a = S.auth;
  app().innerHTML = `<main><form class="card login" id="login-form">
    <h1>${esc(t("login.title"))}</h1>
    <p><button type="button" data-act="lang" id="lang">${esc(t("lang.switch"))}</button></p>
    ${a.accounts ? `<label for="login-user">${esc(t("login.user"))}</label><input id="login-user" autocomplete="username" autofocus>
    <label for="login-password">${esc(t("login.password"))}</label><input id="login-password" type="password" autocomplete="current-password">` : ""}
    ${a.token_login ? `${a.accounts ? `<p class="muted">${esc(t("login.or_token"))}</p>` : ""}
    <label for="login-token">${esc(t("login.token"))}</label><input id="login-token" type="password" autocomplete="off" ${a.accounts ? "" : "autofocus"}>` : ""}
    ${S.error ? `<p class="error" role="alert">${esc(S.error.message)}</p>` : ""}
    <div class="actions"><button class="primary" type="submit" id="login-submit">${esc(t("login.submit"))}</button></div>
  </form></main>`;
  restoreForm();
  document.getElementById("login-form").addEventListener("submit", doLogin);
  (document.querySelector("[autofocus]") || document.getElementById("login-submit")).focus();
}

// remember keeps the enrollment in progress in this tab's storage, so a
// reload comes back to it (see afterHello).
function remember() {
  if (S.session && S.step !== "done" && S.step !== "applicant") {
    sessionStorage.setItem("stationd.session", S.session.id);
    sessionStorage.setItem("stationd.step", S.step);
  } else if (!S.restore) {
    sessionStorage.removeItem("stationd.session");
    sessionStorage.removeItem("stationd.step");
  }
}

function renderMain() {
  const m = document.getElementById("main");
  if (!m) return;
  remember();
  const focused = document.activeElement && document.activeElement.id;
  if (S.mode === "tech") { m.innerHTML = techHTML(); }
  else m.innerHTML = stepsHTML() + `<section class="card" id="step-${S.step}">${stepHTML()}</section>` + busyHTML() + errorHTML() + dialogsHTML() +
    `<p class="muted"><kbd>${esc(t("keys.title"))}</kbd> ${esc(t("keys.help"))}</p>`;
  restoreForm();
  drawFace();
  // The same control keeps the focus across a re-render, without moving
  // the page (the officer may have scrolled to a result).
  if (focused) { const el = document.getElementById(focused); if (el) el.focus({ preventScroll: true }); }
}

function restoreForm() {
  for (const [id, v] of Object.entries(S.form)) {
    const el = document.getElementById(id);
    if (el && "value" in el && el.type !== "checkbox") el.value = v;
    if (el && el.type === "checkbox") el.checked = !!v;
  }
}

function busyHTML() {
  if (!S.busy) return "";
  return `<div class="progress" role="progressbar" aria-busy="true" id="busy"><span class="spinner" aria-hidden="true"></span>
    <span>${esc(S.busy.label)}</span> <span id="busy-secs">${esc(t("working", { s: Math.floor((Date.now() - S.busy.start) / 1000) }))}</span></div>`;
}
function errorHTML() {
  return S.error ? `<p class="error" role="alert" id="error">${esc(errorText(S.error))}</p>` : "";
}

function stepsHTML() {
  const cur = STEPS.indexOf(S.step);
  return `<ol class="steps" aria-label="steps">${STEPS.map((s, i) =>
    `<li class="${i === cur ? "current" : i < cur ? "done" : ""}" ${i === cur ? 'aria-current="step"' : ""}>${i + 1}. ${esc(t("step." + s))}</li>`).join("")}</ol>`;
}

function stepHTML() {
  if (!S.session && S.step !== "applicant") S.step = "applicant";
  switch (S.step) {
    case "applicant": return applicantHTML();
    case "face": return faceHTML();
    case "fingers": return fingersHTML();
    case "card": return cardHTML();
    case "review": return reviewHTML();
    case "done": return doneHTML();
  }
  return "";
}

function navHTML(nextLabel) {
  return `<div class="actions">
    <button data-act="back" id="back" title="B">${esc(t("back"))}</button>
    <button data-act="next" class="primary" id="next" title="N">${esc(nextLabel || t("next"))}</button>
    <button data-act="abandonOpen" id="abandon">${esc(t("abandon"))}</button></div>`;
}

// needOperator: the login does not name the officer (no accounts, or the
// station's shared token), so the officer types their ID.
function needOperator() { return !S.user || !S.user.name || S.user.name === "token"; }

function applicantHTML() {
  if (needOperator() && S.form["operator"] === undefined) S.form["operator"] = localStorage.getItem("stationd.operator") || "";
  const open = S.openSessions.filter((s) => s.state === "capturing" || s.state === "review");
  return `<h2>${esc(t("applicant.title"))}</h2>
    <form id="start-form">${needOperator() ? `<label for="operator">${esc(t("applicant.operator"))}</label>
    <input id="operator" autocomplete="off" maxlength="64">` : ""}<label for="applicant">${esc(t("applicant.title"))}</label>
    <input id="applicant" autofocus autocomplete="off" maxlength="64" pattern="[A-Za-z0-9._/\\-]+">
    <p class="muted">${esc(t("applicant.help"))}</p>
    <div class="actions"><button class="primary" type="submit" id="start" ${S.connected ? "" : "disabled"}>${esc(t("applicant.start"))}</button></div></form>
    ${open.length ? `<h3>${esc(t("applicant.open"))}</h3><ul>${open.map((s) =>
      `<li>${esc(s.applicant)} (${esc(s.state)}) <button data-act="resume" data-id="${esc(s.id)}">${esc(t("applicant.resume"))}</button></li>`).join("")}</ul>` : ""}`;
}

function faceHTML() {
  const f = S.session.face;
  const avail = S.commands.has("session.face.capture");
  const res = S.face.result;
  return `<h2>${esc(t("face.title"))}</h2>
    ${!avail ? `<p class="warn badge" id="face-unavailable">${esc(t("face.unavailable"))}</p>` : `
    <div class="row"><div><div class="preview" id="face-preview"><img id="face-img" alt="${esc(t("face.title"))}"><div class="box" id="face-box" hidden></div>
      <p class="muted" id="face-wait" style="color:#ccc;padding:1rem">${esc(t("face.no_preview"))}</p></div></div>
    <div><p class="instruction" id="face-instruction"></p><ul class="checks" id="face-checks"></ul><p class="muted" id="face-fps"></p></div></div>
    <div class="actions"><button class="primary" data-act="faceCapture" id="face-capture" title="C">${esc(t("face.capture"))}</button>
    <button data-act="faceCapture" data-manual="1" id="face-override">${esc(t("face.override"))}</button></div>`}
    ${f ? `<p class="result pass badge" id="face-done">${esc(t("face.taken", { score: f.score }))}</p>` : ""}
    ${f && (S.portraitURL || S.stored?.face) ? `<p><img id="portrait-img" src="${esc(S.portraitURL || S.stored.face.url)}" alt="${esc(t("review.portrait"))}" style="max-height:240px;border:1px solid #ccc"></p>` : ""}
    ${res && res.reasons && res.reasons.length ? `<ul class="checks">${res.reasons.map((r) => `<li class="fail">${esc(reason(r.code || r))}</li>`).join("")}</ul>` : ""}
    ${navHTML()}`;
}

function drawFace() {
  const img = document.getElementById("face-img");
  if (!img || !S.face.url) return;
  img.src = S.face.url;
  document.getElementById("face-wait")?.remove();
  const m = S.face.meta || {};
  const box = document.getElementById("face-box");
  const checks = (m.checks || []).filter((c) => c.measured !== false);
  const allPass = m.pass ?? checks.every((c) => c.pass);
  // The box comes as {Min:{X,Y},Max:{X,Y}} (Go's image.Rectangle) or {x,y,w,h}.
  const b = m.box && (m.box.Min ? { x: m.box.Min.X, y: m.box.Min.Y, w: m.box.Max.X - m.box.Min.X, h: m.box.Max.Y - m.box.Min.Y } : m.box);
  if (b && m.width && m.height && box) {
    box.hidden = false;
    box.className = "box" + (allPass ? "" : " bad");
    box.style.left = (100 * b.x / m.width) + "%";
    box.style.top = (100 * b.y / m.height) + "%";
    box.style.width = (100 * b.w / m.width) + "%";
    box.style.height = (100 * b.h / m.height) + "%";
  } else if (box) box.hidden = true;
  const ins = document.getElementById("face-instruction");
  if (ins) {
    const first = (m.reasons || [])[0];
    ins.textContent = first ? reason(first.code) : m.instruction ? reason(m.instruction) : allPass && checks.length ? "✔ " + t("pass") : "";
  }
  const ul = document.getElementById("face-checks");
  if (ul) ul.innerHTML = checks.map((c) =>
    `<li class="${c.pass ? "pass" : "fail"}">${esc(c.pass ? t("pass") : t("fail"))}: ${esc(!c.pass && c.reason ? reason(c.reason) : checkName(c.id || c.name))}${c.score != null ? ` (${esc(c.score)})` : ""}</li>`).join("");
}

function checkName(id) {
  const k = "check." + id;
  const v = t(k);
  return v === k ? String(id).replaceAll("_", " ") : v;
}

const HAND = { right: [1, 2, 3, 4, 5], left: [6, 7, 8, 9, 10] };
const HEIGHT = { 1: "thumb", 2: "h2", 3: "h3", 4: "h4", 5: "h5", 6: "thumb", 7: "h2", 8: "h3", 9: "h4", 10: "h5" };

function fingerState(f) {
  if (!f) return { cls: "", mark: "", label: "" };
  if (f.exception) return { cls: "exc", mark: "⊘", label: t("kind." + f.exception) };
  if (f.done) return { cls: "ok", mark: "✔", label: f.score != null ? String(f.score) : "" };
  if (f.attempts) return { cls: "low", mark: "▲", label: f.score != null ? String(f.score) : "" };
  return { cls: "", mark: "○", label: "" };
}

function fingersHTML() {
  const pos = currentFinger();
  const byPos = Object.fromEntries(S.session.fingers.map((f) => [f.position, f]));
  const hand = (name, list) => `<div class="hand"><h3>${esc(t("hand." + name))}</h3><div class="fingers">${
    (name === "left" ? list.slice().reverse() : list).map((p) => {
      const f = byPos[p];
      if (!f) return `<div class="finger ${HEIGHT[p]}" aria-hidden="true" style="opacity:.3"></div>`;
      const st = fingerState(f);
      return `<button class="finger ${HEIGHT[p]} ${st.cls} ${p === pos ? "current" : ""}" data-act="selectFinger" data-pos="${p}" id="finger-${p}"
        aria-pressed="${p === pos}" aria-label="${esc(fingerName(p))} ${esc(st.label)}"><span class="mark" aria-hidden="true">${st.mark}</span>${esc(fingerName(p))}<br><b>${esc(st.label)}</b></button>`;
    }).join("")}</div></div>`;
  const f = byPos[pos];
  const r = S.fingerResult;
  let result = "";
  if (r) {
    const ok = r.accepted && r.score >= r.threshold;
    result = `<div class="result" id="finger-result" data-pos="${esc(r.position)}" data-attempts="${esc(r.attempts)}" data-lifted="${lifted(r) ? 1 : 0}">
      ${r.position !== pos ? `<b>${esc(fingerName(r.position))}:</b> ` : ""}<span class="badge ${!r.accepted ? "fail" : ok ? "pass" : "warn"}">${esc(t("fingers.score"))} ${esc(r.score)}</span>
      ${r.accepted ? `${esc(t("fingers.threshold"))}: ${esc(r.threshold)} · ${esc(t("fingers.attempts"))}: ${esc(r.attempts)} · ${esc(r.kept ? t("fingers.kept") : t("fingers.not_kept"))}` : esc(t("fingers.not_print"))}
      ${r.accepted && !r.done ? `<p class="warn badge">${esc(t("fingers.retry"))}</p>` : ""}
      <ul class="checks">${(r.reasons || []).map((x) => `<li class="fail">${esc(reason(x))}</li>`).join("")}</ul></div>`;
  }
  const allDone = S.session.fingers.every((x) => x.done);
  const modes = hasSlap() ? `<div class="actions" role="group" aria-label="${esc(t("fingers.mode"))}">
      <button data-act="fingerMode" data-mode="slap" id="mode-slap" aria-pressed="${slapMode()}" title="M">${slapMode() ? "● " : ""}${esc(t("fingers.mode_slap"))}</button>
      <button data-act="fingerMode" data-mode="flat" id="mode-flat" aria-pressed="${!slapMode()}" title="M">${slapMode() ? "" : "● "}${esc(t("fingers.mode_flat"))}</button></div>` : "";
  if (slapMode()) {
    // The slap's image and scores first: the hand diagram is the overview.
    return `<h2>${esc(t("fingers.title"))}</h2>${modes}
      ${slapHTML(byPos)}
      ${allDone ? `<p class="pass badge" id="fingers-done">${esc(t("fingers.all_done"))}</p>` : ""}
      <div class="hands" role="group" aria-label="${esc(t("fingers.title"))}">${hand("left", HAND.left)}${hand("right", HAND.right)}</div>
      ${navHTML()}`;
  }
  const stored = S.stored && S.stored.fingers[pos];
  const fimg = S.fingerImgs[pos] || (stored && stored.url);
  return `<h2>${esc(t("fingers.title"))}</h2>${modes}
    <div class="hands" role="group" aria-label="${esc(t("fingers.title"))}">${hand("left", HAND.left)}${hand("right", HAND.right)}</div>
    <div class="row" style="margin-top:1rem"><div>
      <p class="big" id="finger-current">${esc(fingerName(pos))}</p>
      ${f ? `<p>${esc(t("fingers.attempts"))}: ${esc(f.attempts || 0)} · ${esc(t("fingers.threshold"))}: ${esc(f.threshold)}${f.score != null ? ` · ${esc(t("fingers.score"))}: ${esc(f.score)}` : ""}</p>` : ""}
      ${f && f.exception ? `<p class="warn badge" id="finger-exception">⊘ ${esc(t("kind." + f.exception))}</p>` : ""}
      ${result}
      ${allDone ? `<p class="pass badge" id="fingers-done">${esc(t("fingers.all_done"))}</p>` : ""}
      <div class="actions">
        <button class="primary" data-act="fingerCapture" id="finger-capture" title="C" ${f && f.exception ? "disabled" : ""}>${esc(t("fingers.capture"))}</button>
        ${f && f.exception ? `<button data-act="exceptClear" id="except-clear">${esc(t("fingers.clear"))}</button>`
          : `<button data-act="exceptOpen" id="except-open" title="E">${esc(t("fingers.except"))}</button>`}
      </div></div>
      <div>${fimg ? `<img id="finger-img" src="${esc(fimg)}" alt="${esc(fingerName(pos))}" style="max-width:260px;border:1px solid #ccc;background:#fff">` : ""}</div></div>
    ${navHTML()}`;
}

// ---- slaps (4-4-2) -------------------------------------------------

// The fingers of each slap, ISO/IEC 19794-4 positions, in the order the
// slap scanner sees them.
const SLAPS = { right: [2, 3, 4, 5], left: [7, 8, 9, 10], thumbs: [1, 6] };

function hasSlap() {
  return S.commands.has("session.slap.capture") && [...S.devices.values()].some((d) => d.info.kind === "slap" && d.state !== "absent");
}
function slapMode() { return hasSlap() && (S.fingerMode || "slap") === "slap"; }
function fingerOf(pos) { return S.session && S.session.fingers.find((f) => f.position === pos); }
// slapFingers: the slap's fingers this enrollment asks for, not excused.
function slapFingers(k) { return (SLAPS[k] || []).filter((p) => { const f = fingerOf(p); return f && !f.exception; }); }
function slapKinds() { return Object.keys(SLAPS).filter((k) => slapFingers(k).length); }
function currentSlap() {
  if (S.slap && slapFingers(S.slap).length) return S.slap;
  return slapKinds().find((k) => slapFingers(k).some((p) => !fingerOf(p).done)) || slapKinds()[0] || "right";
}

function slapHTML(byPos) {
  const cur = currentSlap();
  const r = S.slapResult && S.session && S.slapResult.session === S.session.id ? S.slapResult : null;
  const btns = slapKinds().map((k, i) => {
    const done = slapFingers(k).every((p) => byPos[p] && byPos[p].done);
    return `<button data-act="selectSlap" data-slap="${k}" id="slap-${k}" class="${k === cur ? "current" : ""}" aria-pressed="${k === cur}" title="${i + 1}">${done ? "✔ " : ""}${esc(t("slap." + k))}</button>`;
  }).join("");
  let res = "";
  if (r) {
    const thr = (p) => (byPos[p] && byPos[p].threshold) || 0;
    const got = (p) => (r.fingers || []).find((f) => f.position === p);
    const w = r.width || 1, h = r.height || 1;
    const boxes = (r.boxes || []).map((b) => {
      const f = got(b.position);
      const ok = !r.wrong_hand && f && f.score >= thr(b.position);
      return `<div class="box ${ok ? "" : "bad"}" data-pos="${b.position}" style="left:${100 * b.x / w}%;top:${100 * b.y / h}%;width:${100 * b.w / w}%;height:${100 * b.h / h}%">
        <span class="box-label">${ok ? "✔" : "✖"} ${esc(fingerName(b.position))}${f ? " · " + esc(f.score) : ""}</span></div>`;
    }).join("");
    const img = S.slapURL && S.slapMeta && S.slapMeta.session === r.session && S.slapMeta.slap === r.slap
      ? `<img id="slap-img" src="${S.slapURL}" alt="${esc(t("slap.image"))}">` : `<p class="muted" style="padding:1rem">…</p>`;
    const list = (r.fingers || []).map((f) => {
      const ok = f.score >= thr(f.position);
      return `<li class="${ok ? "pass" : "warn"}" data-pos="${f.position}">${esc(ok ? t("pass") : t("fail"))} · <b>${esc(fingerName(f.position))}</b>: ${esc(t("fingers.score"))} ${esc(f.score)}
        (${esc(t("fingers.threshold"))} ${esc(thr(f.position))}) · ${esc(!r.recorded ? t("slap.not_recorded") : f.kept ? t("fingers.kept") : t("fingers.not_kept"))}
        ${(f.reasons || []).map((x) => `<br><small>${esc(reason(x))}</small>`).join("")}</li>`;
    }).join("");
    const missing = (r.missing || []).map((p) => `<li class="fail" data-missing="${p}">${esc(fingerName(p))}: ${esc(t("slap.missing"))}</li>`).join("");
    res = `<div class="result" id="slap-result" data-slap="${esc(r.slap)}" data-n="${S.slapCount}" data-recorded="${r.recorded ? 1 : 0}" data-wrong="${r.wrong_hand ? 1 : 0}">
      <h3>${esc(t("slap." + r.slap))}</h3>
      ${r.wrong_hand ? `<p class="fail badge" id="slap-wrong-hand" role="alert">${esc(t("slap.wrong_hand"))}</p>` : ""}
      <div class="row"><div><div class="preview slap" id="slap-preview" style="aspect-ratio:${w}/${h};width:min(100%, calc(55vh * ${(w / h).toFixed(3)}))">${img}${boxes}</div></div>
      <div><ul class="checks" id="slap-fingers">${list}${missing}</ul>
      <ul class="checks">${(r.reasons || []).filter((x) => !r.wrong_hand || x !== "wrong hand placed").map((x) => `<li class="fail">${esc(reason(x))}</li>`).join("")}</ul></div></div></div>`;
  }
  return `<div class="actions slaps" role="group" aria-label="${esc(t("fingers.mode_slap"))}">${btns}</div>
    <p class="big" id="slap-current" data-slap="${cur}">${esc(t("slap." + cur))}: ${slapFingers(cur).map((p) => esc(fingerName(p))).join(", ")}</p>
    <div class="actions"><button class="primary" data-act="slapCapture" id="slap-capture" title="C">${esc(t("slap.capture"))}</button>
    ${r ? `<button data-act="slapRetake" id="slap-retake" title="R">${esc(t("slap.retake"))}: ${esc(t("slap." + r.slap))}</button>` : ""}
    <span class="muted">${esc(t("slap.keys"))}</span></div>
    ${res}`;
}

function cardRequired() {
  const s = S.session;
  return !!(s.card || (s.missing || []).some((m) => m.startsWith("chip card")));
}

// cardWrites: this session writes a new card (the booth's policy says
// personalize and stationd offers the command); otherwise the step reads
// and verifies the applicant's card and shows no write fields.
function cardWrites() {
  const s = S.session || {};
  return S.commands.has("session.card.personalize") && (s.card_mode === undefined || s.card_mode === "personalize");
}

function cardHTML() {
  const s = S.session;
  if (!cardRequired()) return `<h2>${esc(t("card.title"))}</h2><p id="card-none">${esc(t("card.none"))}</p>${navHTML()}`;
  const field = (id, label, extra = "") => `<label for="${id}">${esc(t(label))}</label><input id="${id}" autocomplete="off" ${extra}>`;
  const c = S.card || (s.card ? { ok: s.card.ok, detail: s.card.detail } : null);
  return `<h2>${esc(t("card.title"))}</h2><p>${esc(t("card.insert"))}</p>
    <div class="row"><div>${field("card-can", "card.can", 'inputmode="numeric" maxlength="6"')}</div>
    <div>${field("card-document", "card.document")}${field("card-birth", "card.birth", 'maxlength="6"')}${field("card-expiry", "card.expiry", 'maxlength="6"')}</div>
    ${cardWrites() ? `<div><p class="muted">${esc(t("card.write_help"))}</p>${field("card-surname", "card.surname")}${field("card-given", "card.given")}
    ${field("card-sex", "card.sex", 'maxlength="1"')}${field("card-optional", "card.cccd", 'inputmode="numeric" maxlength="12"')}</div>` : ""}</div>
    <div class="actions"><button class="primary" data-act="cardRead" id="card-read">${esc(t("card.read"))}</button>
    ${cardWrites() ? `<button data-act="cardWrite" id="card-write">${esc(t("card.personalize"))}</button>` : ""}</div>
    ${c ? `<p class="badge ${c.ok ? "pass" : "fail"}" id="card-result">${esc(c.ok ? t("card.ok") : t("card.failed"))}</p><p class="muted">${esc(c.detail || "")}</p>` : ""}
    ${navHTML()}`;
}

function reviewHTML() {
  const s = S.session;
  const missing = s.missing || [];
  const rows = s.fingers.map((f) => {
    const st = fingerState(f);
    // The kept image as stationd stores it; the preview this page saw
    // until that list has come.
    const stored = S.stored && S.stored.fingers[f.position];
    const img = (stored && stored.url) || S.bestImgs[f.position] || S.fingerImgs[f.position];
    const photo = S.stored && S.stored.exceptions[f.position];
    return `<tr data-pos="${f.position}"><td>${esc(fingerName(f.position))}</td><td><span class="badge ${f.exception ? "warn" : f.done ? "pass" : "fail"}">${esc(f.exception ? t("kind." + f.exception) : f.done ? t("pass") : t("fail"))}</span></td>
      <td class="score">${esc(f.exception ? "—" : st.label)}</td><td>${esc(f.attempts || 0)}</td><td>${img ? `<img id="review-img-${f.position}" src="${esc(img)}" alt="${esc(fingerName(f.position))}" style="height:70px">` : ""}
      ${photo ? `<img id="review-except-${f.position}" src="${esc(photo.url)}" alt="${esc(t("review.exception_photo"))}" title="${esc(t("review.exception_photo"))}" style="height:70px">` : ""}</td></tr>`;
  }).join("");
  const portrait = (S.stored && S.stored.face && S.stored.face.url) || S.portraitURL;
  // Whole slaps, as they go to the central, with each finger's box drawn
  // where stationd found it (in per cent of the image, so at any size).
  const slapKey = { 13: "slap.right", 14: "slap.left", 15: "slap.thumbs" };
  const slaps = ((S.stored && S.stored.slaps) || []).map((sl) => `<figure class="review-slap" id="review-slap-${sl.position}">
      <div style="position:relative;display:inline-block"><img src="${esc(sl.url)}" alt="${esc(t(slapKey[sl.position]))}" style="height:180px;display:block">
      <svg viewBox="0 0 ${esc(sl.width)} ${esc(sl.height)}" preserveAspectRatio="none" style="position:absolute;inset:0;width:100%;height:100%" aria-hidden="true">
      ${(sl.segments || []).map((g) => {
        // The turned outline the finger was cut from, else its box.
        const pts = g.outline && g.outline.length >= 3 ? g.outline : [[g.x, g.y], [g.x + g.w, g.y], [g.x + g.w, g.y + g.h], [g.x, g.y + g.h]];
        return `<polygon class="slap-box" data-pos="${g.position}" points="${esc(pts.map((p) => p.join(",")).join(" "))}" fill="none" stroke="#1a5fb4" stroke-width="${Math.max(2, sl.width / 120)}"><title>${esc(fingerName(g.position))}: ${esc(g.score)}</title></polygon>`;
      }).join("")}</svg></div>
      <figcaption>${esc(t(slapKey[sl.position]))}: ${(sl.segments || []).map((g) => `${esc(fingerName(g.position))} ${esc(g.score)}`).join(" · ")}</figcaption></figure>`).join("");
  return `<h2>${esc(t("review.title"))}</h2>
    <p>${esc(t("applicant.title"))}: <b id="review-applicant">${esc(s.applicant)}</b></p>
    <p>${esc(t("review.portrait"))}: ${s.face ? `<span class="badge pass">${esc(t("fingers.score"))} ${esc(s.face.score)}</span>` : "—"}
    ${s.face && portrait ? `<br><img id="review-portrait" src="${esc(portrait)}" alt="${esc(t("review.portrait"))}" style="max-height:160px">` : ""}</p>
    ${s.card ? `<p>${esc(t("review.card"))}: <span class="badge ${s.card.ok ? "pass" : "fail"}" id="review-card">${esc(s.card.ok ? t("card.ok") : t("card.failed"))}</span></p>` : ""}
    <table><thead><tr><th>${esc(t("step.fingers"))}</th><th></th><th>${esc(t("fingers.score"))}</th><th>${esc(t("fingers.attempts"))}</th><th></th></tr></thead><tbody>${rows}</tbody></table>
    ${slaps ? `<h3>${esc(t("review.slaps"))}</h3><div id="review-slaps">${slaps}</div>` : ""}
    ${missing.length ? `<div class="error" id="review-missing"><b>${esc(t("review.missing"))}:</b><ul>${missing.map((m) => `<li>${esc(m)}</li>`).join("")}</ul></div>` : ""}
    <div class="actions"><button data-act="reviewBack" id="back" title="B">${esc(t("review.back"))}</button>
    <button class="primary" data-act="finalize" id="finalize" ${s.state === "review" ? "" : "disabled"}>${esc(t("review.finalize"))}</button>
    <button data-act="abandonOpen" id="abandon">${esc(t("abandon"))}</button></div>`;
}

function doneHTML() {
  return `<h2 class="pass badge" id="saved">${esc(t("done.title"))}</h2>
    <p>${esc(t("done.packet"))}: <code id="packet-id">${esc(S.packet && S.packet.packet_id)}</code></p>
    <div class="actions"><button class="primary" data-act="nextPerson" id="next-person" autofocus title="Enter">${esc(t("done.next"))}</button></div>`;
}

function dialogsHTML() {
  if (!S.session) return "";
  return `<dialog id="except-dialog" aria-labelledby="except-title"><form id="except-form" method="dialog">
      <h2 id="except-title">${esc(t("except.title"))}: ${esc(fingerName(currentFinger()))}</h2>
      <label for="except-kind">${esc(t("except.kind"))}</label>
      <select id="except-kind">${["amputated", "bandaged", "unable"].map((k) => `<option value="${k}">${esc(t("kind." + k))}</option>`).join("")}</select>
      <label for="except-reason">${esc(t("except.reason"))}</label><input id="except-reason" required maxlength="200">
      ${[...S.devices.values()].some((d) => d.info.kind === "camera") ? `<label><input type="checkbox" id="except-photo" style="width:auto;min-height:auto"> ${esc(t("except.photo"))}</label>` : ""}
      <div class="actions"><button type="button" data-act="exceptCancel">${esc(t("except.cancel"))}</button>
      <button class="primary" type="submit" id="except-save">${esc(t("except.save"))}</button></div></form></dialog>
    <dialog id="abandon-dialog"><form id="abandon-form" method="dialog"><label for="abandon-reason">${esc(t("abandon.reason"))}</label>
      <input id="abandon-reason" required maxlength="200">
      <div class="actions"><button type="button" data-act="abandonCancel">${esc(t("except.cancel"))}</button>
      <button class="primary" type="submit" id="abandon-save">${esc(t("abandon"))}</button></div></form></dialog>`;
}

function stateBadge(state) {
  const cls = state === "ready" ? "pass" : state === "busy" || state === "needs-calibration" ? "warn" : "fail";
  return `<span class="badge ${cls}">${esc(t("state." + state))}</span>`;
}

function techHTML() {
  const rows = [...S.devices.values()].map((d) => {
    const i = d.info, c = S.counters.get(i.id) || { events: 0, errors: 0 };
    const tr = S.tech[i.id] || {};
    const btn = (cmd, label) => S.commands.has(cmd)
      ? `<button data-act="tech" data-cmd="${cmd}" data-device="${esc(i.id)}" id="${cmd.replace(".", "-")}-${esc(i.id)}" ${tr.busy ? "disabled" : ""}>${esc(t(label))}</button>`
      : `<button disabled>${esc(t(label))}</button> <small class="muted na">(${esc(t("tech.not_available"))})</small>`;
    let out = "";
    if (tr.busy) {
      const pr = tr.progress;
      out = `<div class="progress" role="progressbar" aria-busy="true"><span class="spinner" aria-hidden="true"></span>${esc(t("tech.running"))}
        ${pr ? `${esc(pr.step)}/${esc(pr.of)} ${esc(pr.message || "")}` : ""}</div>`;
    } else if (tr.error) out = `<p class="error">${esc(tr.error.code === "unknown_type" ? t("tech.not_available") : errorText(tr.error))}</p>`;
    else if (tr.result) out = reportHTML(tr.result);
    const saved = S.techSaved && S.techSaved[i.id];
    if (!tr.busy && !tr.result && saved) out += ["selftest", "calibration"].map((k) => saved[k] ? reportHTML(saved[k]) : "").join("") +
      (saved.calibration_state ? `<p class="muted">${esc(t("tech.calibration_state"))}: ${esc(t("state." + saved.calibration_state) === "state." + saved.calibration_state ? saved.calibration_state : t("state." + saved.calibration_state))}</p>` : "");
    return `<tr id="dev-${esc(i.id)}"><td><b>${esc(i.id)}</b><br>${esc(i.kind)} · ${esc(i.driver)}</td>
      <td>${esc([i.vendor, i.model].filter(Boolean).join(" "))}${i.serial ? "<br>S/N " + esc(i.serial) : ""}${i.firmware ? "<br>FW " + esc(i.firmware) : ""}${i.port ? "<br>" + esc(i.port) : ""}</td>
      <td class="dev-state">${stateBadge(d.state)}<br><span class="muted">${esc(d.detail || "")}</span></td>
      <td id="counters-${esc(i.id)}" data-captures="${esc(c.captures ?? "")}" data-attempts="${esc(c.attempts ?? "")}" data-errors="${esc(c.errors)}">${c.server
        ? `${esc(c.captures)} / ${esc(c.attempts)}<br>${esc(t("tech.errors"))}: <b>${esc(c.errors)}</b><br><small class="muted">${esc(c.events)} ${esc(t("tech.events"))}</small>`
        : `${esc(c.events)} / ${esc(c.errors)}`}</td>
      <td id="lasterr-${esc(i.id)}" data-time="${esc(c.lastErrorTime ? c.lastErrorTime.toISOString() : "")}">${esc(c.lastError || "")}${c.lastErrorTime ? `<br><span class="muted">${esc(c.lastErrorTime.toLocaleTimeString(S.lang))}</span>` : ""}</td>
      <td>${btn("device.selftest", "tech.selftest")} ${btn("device.calibrate", "tech.calibrate")}${out}</td></tr>`;
  }).join("");
  return `<section class="card" id="tech"><h2>${esc(t("tech.title"))}</h2>
    ${S.devices.size ? `<table><thead><tr><th>${esc(t("tech.id"))}</th><th>${esc(t("tech.identity"))}</th><th>${esc(t("tech.state"))}</th><th>${esc(S.commands.has("device.counters") ? t("tech.captures") : t("tech.counters"))}</th><th>${esc(t("tech.last_error"))}</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p>${esc(t("tech.none"))}</p>`}</section>`;
}

// reportHTML shows a self-test or calibration report: the overall result
// and each check, with words and icons besides colour.
function reportHTML(r) {
  if (!r || !r.checks) return `<pre>${esc(JSON.stringify(r, null, 1))}</pre>`;
  const cls = (x) => x === "pass" ? "pass" : x === "warn" ? "warn" : x === "fail" ? "fail" : "";
  const word = (x) => { const k = "result." + x; const v = t(k); return v === k ? x : v; };
  return `<div class="report" data-result="${esc(r.result)}"><p><b>${esc(r.run === "calibrate" ? t("tech.calibrate") : t("tech.selftest"))}</b>
    <span class="badge ${cls(r.result)}">${esc(word(r.result))}</span> <span class="muted">${esc(r.finished ? new Date(r.finished).toLocaleString(S.lang) : "")}</span></p>
    <ul class="checks">${r.checks.map((c) => `<li class="${cls(c.result)}">${esc(word(c.result))} · <b>${esc(c.name)}</b>: ${esc(c.message || "")}${c.advice ? `<br><i>${esc(c.advice)}</i>` : ""}</li>`).join("")}</ul></div>`;
}

async function loadTechChecks() {
  if (!S.commands.has("device.checks")) return;
  S.techSaved = S.techSaved || {};
  for (const id of S.devices.keys()) {
    try { S.techSaved[id] = await send("device.checks", { device: id }); } catch { /* none saved */ }
  }
  renderTech();
}

function renderTech() { if (S.mode === "tech") renderMain(); }

function renderStatus() {
  const el = document.getElementById("status");
  if (!el) return;
  const devs = [...S.devices.values()].map((d) =>
    `<span class="dev" id="status-dev-${esc(d.info.id)}" data-state="${esc(d.state)}">${esc(d.info.id)} ${stateBadge(d.state)}</span>`).join("");
  const ob = S.outbox;
  const lastAck = ob && ob.last_ack && !ob.last_ack.startsWith("0001") ? new Date(ob.last_ack) : null;
  const last = [lastAck, S.uplink.lastSync].filter(Boolean).sort((a, b) => b - a)[0];
  el.innerHTML = `<span>${esc(t("status.devices"))}: ${devs || "—"}</span>
    <span id="status-outbox">${esc(t("status.outbox"))}: ${ob ? esc(t("status.waiting", { n: ob.depth })) : "—"}</span>
    <span id="status-uplink">${esc(t("status.uplink"))}: ${esc(S.uplink.state ? t("uplink." + S.uplink.state) : t("uplink.unknown"))}</span>
    <span id="status-sync">${esc(t("status.last_sync"))}: ${last ? esc(last.toLocaleString(S.lang)) : esc(t("status.never"))}</span>
    <span id="status-conn">${S.connected ? esc(t("conn.ok")) : ""}</span>`;
}

// ---- input -----------------------------------------------------------

document.addEventListener("input", (ev) => {
  if (ev.target.id) S.form[ev.target.id] = ev.target.type === "checkbox" ? ev.target.checked : ev.target.value;
});

document.addEventListener("click", (ev) => {
  const el = ev.target.closest("[data-act]");
  if (!el || el.disabled) return;
  const fn = act[el.dataset.act];
  if (fn) { ev.preventDefault(); fn(el, ev); }
});

document.addEventListener("submit", (ev) => {
  switch (ev.target.id) {
    case "start-form": ev.preventDefault(); act.start(); break;
    case "except-form": ev.preventDefault(); act.exceptSave(null, ev); break;
    case "abandon-form": ev.preventDefault(); act.abandonSave(null, ev); break;
  }
});

document.addEventListener("keydown", (ev) => {
  if (ev.altKey && (ev.key === "l" || ev.key === "L")) { ev.preventDefault(); act.lang(); return; }
  if (ev.altKey && (ev.key === "t" || ev.key === "T") && S.user && S.user.role === "technician") {
    ev.preventDefault(); S.mode = S.mode === "tech" ? "enroll" : "tech"; renderAll();
    if (S.mode === "tech") loadTechChecks();
    return;
  }
  const tag = (ev.target.tagName || "").toLowerCase();
  if (ev.ctrlKey || ev.altKey || ev.metaKey || tag === "input" || tag === "textarea" || tag === "select") return;
  if (document.querySelector("dialog[open]") || S.busy || S.mode !== "enroll") return;
  const k = ev.key.toLowerCase();
  if (S.step === "done" && (k === "enter" || k === "n")) { ev.preventDefault(); act.nextPerson(); return; }
  if (!S.session) return;
  if (S.step === "fingers" && k === "m" && hasSlap()) {
    ev.preventDefault(); act.fingerMode({ dataset: { mode: slapMode() ? "flat" : "slap" } }); return;
  }
  if (S.step === "fingers" && slapMode()) {
    // Slaps: 1-3 choose, C captures, R retakes.
    const kinds = slapKinds();
    if (/^[1-3]$/.test(k) && kinds[+k - 1]) { ev.preventDefault(); act.selectSlap({ dataset: { slap: kinds[+k - 1] } }); return; }
    if (k === "c") { ev.preventDefault(); act.slapCapture(); return; }
    if (k === "r") { ev.preventDefault(); act.slapRetake(); return; }
  }
  if (k === "c") {
    if (S.step === "fingers") { ev.preventDefault(); act.fingerCapture(); }
    if (S.step === "face" && S.commands.has("session.face.capture")) { ev.preventDefault(); act.faceCapture(null); }
  } else if (k === "e" && S.step === "fingers") { ev.preventDefault(); act.exceptOpen(); }
  else if (k === "n" && S.step !== "review") { ev.preventDefault(); act.next(); }
  else if (k === "b") { ev.preventDefault(); act.back(); }
  else if (S.step === "fingers" && /^[0-9]$/.test(k)) {
    // 1-9 and 0 pick finger positions 1-10 (ISO/IEC 19794-4 codes).
    const pos = k === "0" ? 10 : +k;
    if (S.session.fingers.some((f) => f.position === pos)) { ev.preventDefault(); S.fingerPos = pos; S.fingerResult = null; renderMain(); }
  }
});

// ---- start -----------------------------------------------------------

(async function main() {
  S.dict = await (await fetch("i18n.json")).json();
  document.documentElement.lang = S.lang;
  const a = await whoami();
  renderAll();
  if (!a.auth_required || a.authenticated) connect();
})();
