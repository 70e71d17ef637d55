// The dev phone's page. Everything the server sends is shown with
// textContent or DOM nodes, never as HTML: answers and log lines are a
// script's output.
"use strict";

const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";

const state = {
  call: null,        // {id, ivr, caller, es}
  lastCall: null,    // {ivr, caller, inputs} of the last finished call
  vars: {},
  varHistory: {},   // variable -> every value it had, with where
  flow: null,
  nodes: {},         // option id -> svg group
  boxes: {},         // option id -> {x, y, w, h}
  openRequest: null, // the request card waiting for its answer
};
window.dialuaSpoken = []; // what the page has spoken, in order

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

// --- setup ----------------------------------------------------------------

async function loadLists() {
  const ivrs = await api("GET", "/api/ivrs");
  const sel = $("#ivr");
  sel.textContent = "";
  for (const f of ivrs) {
    const o = el("option", "", f.file + (f.name ? " (" + f.name + ")" : "") + (f.error ? " [does not parse]" : ""));
    o.value = f.file;
    sel.append(o);
  }
  const pick = new URLSearchParams(location.search).get("ivr");
  if (pick) sel.value = pick;
  const sc = await api("GET", "/api/scenarios");
  const ssel = $("#scenario");
  ssel.textContent = "";
  for (const f of sc) {
    const o = el("option", "", f);
    o.value = f;
    ssel.append(o);
  }
  await loadFlow();
}

async function loadFlow() {
  const file = $("#ivr").value;
  if (!file) return;
  try {
    state.flow = await api("GET", "/api/flow?ivr=" + encodeURIComponent(file));
  } catch (e) {
    state.flow = null;
    $("#flow").textContent = "";
    return;
  }
  drawFlow(state.flow);
  const entry = $("#entry");
  const keep = entry.value;
  entry.textContent = "";
  const def = el("option", "", "the file's entry (" + state.flow.entry + ")");
  def.value = "";
  entry.append(def);
  for (const cx of state.flow.contexts) {
    if (cx.name === state.flow.entry || !cx.options.some((o) => o.name === "start")) continue;
    const o = el("option", "", cx.name);
    o.value = cx.name;
    entry.append(o);
  }
  entry.value = [...entry.options].some((o) => o.value === keep) ? keep : "";
}

// --- the call flow graph ----------------------------------------------------

const BOX_W = 250, ROW_H = 22, HEAD_H = 24, COL_GAP = 90, BOX_GAP = 22, PAD = 16;

function drawFlow(flow) {
  const svg = $("#flow");
  svg.textContent = "";
  state.nodes = {};
  state.boxes = {};
  const defs = document.createElementNS(SVG, "defs");
  for (const [id, color] of [["arrow-jump", "#3a5fa8"], ["arrow-menu", "#9aa3b5"], ["arrow-script", "#e07b00"]]) {
    const m = document.createElementNS(SVG, "marker");
    m.setAttribute("id", id);
    m.setAttribute("viewBox", "0 0 10 10");
    m.setAttribute("refX", "9"); m.setAttribute("refY", "5");
    m.setAttribute("markerWidth", "7"); m.setAttribute("markerHeight", "7");
    m.setAttribute("orient", "auto-start-reverse");
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", "M0,0 L10,5 L0,10 z");
    p.setAttribute("fill", color);
    m.append(p);
    defs.append(m);
  }
  svg.append(defs);
  const edgeLayer = document.createElementNS(SVG, "g");
  edgeLayer.id = "edges";
  const nodeLayer = document.createElementNS(SVG, "g");
  // Columns by distance from the entry; contexts only scripts jump to last.
  const maxDepth = Math.max(0, ...flow.contexts.map((c) => c.depth));
  const colY = {};
  let width = 0, height = 0;
  for (const cx of flow.contexts) {
    const col = cx.depth < 0 ? maxDepth + 1 : cx.depth;
    const x = PAD + col * (BOX_W + COL_GAP);
    const y = colY[col] || PAD;
    const h = HEAD_H + cx.options.length * ROW_H;
    colY[col] = y + h + BOX_GAP;
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("class", "ctx");
    g.dataset.context = cx.name;
    const box = rect(x, y, BOX_W, h, "ctx-box");
    const head = rect(x, y, BOX_W, HEAD_H, "ctx-head");
    g.append(box, head, text(x + 8, y + 16, cx.name + (cx.name === flow.entry ? "  (entry)" : ""), cx.name === flow.entry ? "ctx-title entry" : "ctx-title"));
    cx.options.forEach((o, i) => {
      const oy = y + HEAD_H + i * ROW_H;
      const n = document.createElementNS(SVG, "g");
      n.setAttribute("class", "node");
      n.dataset.node = o.id;
      const r = rect(x, oy, BOX_W, ROW_H, "");
      const label = o.name + ": " + o.actions.join(" · ");
      const t = text(x + 8, oy + 15, label.length > 42 ? label.slice(0, 41) + "…" : label, "");
      const title = document.createElementNS(SVG, "title");
      title.textContent = o.id + "\n" + o.actions.map((a, k) => (k + 1) + ". " + a).join("\n");
      n.append(r, t, title);
      g.append(n);
      state.nodes[o.id] = n;
      state.boxes[o.id] = { x, y: oy, w: BOX_W, h: ROW_H };
    });
    nodeLayer.append(g);
    width = Math.max(width, x + BOX_W + PAD + 60);
    height = Math.max(height, colY[col]);
  }
  // Shrink to the panel, down to 60%; past that the panel scrolls.
  const panel = $("#flow-wrap").clientWidth || width;
  const scale = Math.max(0.6, Math.min(1, (panel - 4) / width));
  svg.setAttribute("viewBox", "0 0 " + width + " " + (height + PAD));
  svg.setAttribute("width", Math.round(width * scale));
  svg.setAttribute("height", Math.round((height + PAD) * scale));
  svg.append(edgeLayer, nodeLayer);
  for (const e of flow.edges) addEdge(e.from, e.to, e.kind, e.label);
}

function rect(x, y, w, h, cls) {
  const r = document.createElementNS(SVG, "rect");
  r.setAttribute("x", x); r.setAttribute("y", y);
  r.setAttribute("width", w); r.setAttribute("height", h);
  if (cls) r.setAttribute("class", cls);
  return r;
}

function text(x, y, s, cls) {
  const t = document.createElementNS(SVG, "text");
  t.setAttribute("x", x); t.setAttribute("y", y);
  if (cls) t.setAttribute("class", cls);
  t.textContent = s;
  return t;
}

function addEdge(from, to, kind, label) {
  const a = state.boxes[from], b = state.boxes[to];
  if (!a || !b) return null;
  const p = document.createElementNS(SVG, "path");
  let d;
  if (from === to) {
    // A move back to the same option (a script asking again): a loop on
    // the box's right side.
    const x = a.x + a.w, y = a.y + a.h / 2;
    d = `M${x},${y - 5} C${x + 45},${y - 30} ${x + 45},${y + 30} ${x},${y + 5}`;
  } else if (kind === "menu" || a.x === b.x) {
    // Within a column: an arc on the box's left (menu keys) or right side.
    const left = kind === "menu";
    const sx = left ? a.x : a.x + a.w, ex = left ? b.x : b.x + b.w;
    const bulge = (left ? -1 : 1) * (18 + Math.min(60, Math.abs(b.y - a.y) / 6));
    d = `M${sx},${a.y + a.h / 2} C${sx + bulge},${a.y + a.h / 2} ${ex + bulge},${b.y + b.h / 2} ${ex},${b.y + b.h / 2}`;
  } else {
    const sx = a.x < b.x ? a.x + a.w : a.x, ex = a.x < b.x ? b.x : b.x + b.w;
    const mid = (sx + ex) / 2;
    d = `M${sx},${a.y + a.h / 2} C${mid},${a.y + a.h / 2} ${mid},${b.y + b.h / 2} ${ex},${b.y + b.h / 2}`;
  }
  p.setAttribute("d", d);
  p.setAttribute("class", "edge " + kind);
  p.setAttribute("marker-end", "url(#arrow-" + kind + ")");
  p.dataset.from = from;
  p.dataset.to = to;
  if (label) {
    const t = document.createElementNS(SVG, "title");
    t.textContent = label;
    p.append(t);
  }
  $("#edges").append(p);
  return p;
}

// optionOf turns a step's position (Context/option/priority) or a jump
// target (Context/option[/priority]) into a node id.
function optionOf(pos) {
  if (!pos) return "";
  const parts = pos.split("/");
  return parts[0] + "/" + (parts[1] || "start");
}

function highlight(pos) {
  const id = optionOf(pos);
  const n = state.nodes[id];
  if (!n) return;
  for (const c of document.querySelectorAll("#flow .node.current")) c.classList.remove("current");
  n.classList.add("current", "visited");
}

function clearFlowMarks() {
  for (const c of document.querySelectorAll("#flow .node")) c.classList.remove("current", "visited");
  for (const e of document.querySelectorAll("#flow .edge.script")) e.remove();
}

// --- a call -----------------------------------------------------------------

function callerFromForm() {
  return {
    number: $("#caller-number").value.trim(),
    name: $("#caller-name").value.trim(),
    call_api_id: $("#caller-api-id").value.trim(),
    status: $("#status").value,
  };
}

async function placeCall(ivr, caller, entry) {
  if (state.call) await hangup();
  resetCall();
  if ($("#ivr").value !== ivr) {
    $("#ivr").value = ivr;
  }
  await loadFlow();
  if (entry === undefined) entry = $("#entry").value;
  let res;
  try {
    res = await api("POST", "/api/calls", { ivr, caller, entry });
  } catch (e) {
    setState("could not place the call: " + e.message);
    return;
  }
  const es = new EventSource("/api/calls/" + res.id + "/events");
  state.call = { id: res.id, ivr, caller, entry, es };
  setState("calling " + (res.name || ivr) + " (CallID " + res.call_id + ")");
  $("#hangup-btn").disabled = false;
  $("#replay-btn").disabled = true;
  es.onmessage = (m) => onEvent(JSON.parse(m.data));
}

function resetCall() {
  $("#transcript").textContent = "";
  $("#vars tbody").textContent = "";
  $("#session tbody").textContent = "";
  $("#outcome").textContent = "";
  state.vars = {};
  state.varHistory = {};
  state.openRequest = null;
  clearFlowMarks();
}

function setState(s, waiting) {
  const st = $("#call-state");
  st.textContent = s;
  st.classList.toggle("waiting", !!waiting);
  $("#keypad").classList.toggle("waiting", !!waiting);
}

function onEvent(ev) {
  switch (ev.type) {
    case "step": onStep(ev.step); break;
    case "log": onLog(ev.log); break;
    case "session": showSession(ev.session); break;
    case "end": onEnd(ev.end); break;
  }
}

function stepLine(s, text) {
  const li = el("li", "step");
  li.dataset.kind = s.kind;
  li.append(el("span", "t", s.t.toFixed(1) + "s"), el("span", "at", s.at || ""), document.createTextNode(text));
  $("#transcript").append(li);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

function onStep(s) {
  if (s.at) highlight(s.at);
  for (const c of document.querySelectorAll("#vars tr.changed")) c.classList.remove("changed");
  switch (s.kind) {
    case "play":
      stepLine(s, "plays sound " + s.sound + (s.text && s.text.startsWith("<") ? "   " + s.text : ""));
      break;
    case "tts":
      stepLine(s, "says \"" + s.text + "\"" + (s.value ? " (voice " + s.value + ")" : ""));
      speak(s.text);
      break;
    case "key": stepLine(s, "caller presses " + s.key); break;
    case "silence": stepLine(s, "caller is silent: " + s.text); break;
    case "wait":
      stepLine(s, "waiting for the caller: " + s.text);
      setState("your turn: " + s.text, true);
      return;
    case "set":
      stepLine(s, "set " + s.var + " = \"" + s.value + "\"");
      setVar(s.var, s.value, s);
      break;
    case "request": openRequest(s); break;
    case "response": closeRequest(s); break;
    case "redirect": stepLine(s, "redirected (" + s.status + ") to " + s.method + " " + s.url); break;
    case "jump":
      stepLine(s, (s.by_script ? "the script jumps to " : "jump to ") + s.text);
      if (s.by_script) addEdge(optionOf(s.at), optionOf(s.text), "script", "this call's answer");
      break;
    case "caller": stepLine(s, "caller ID becomes \"" + s.text + "\" <" + s.value + ">"); break;
    case "pause": stepLine(s, "pause " + s.value + "s"); break;
    case "error": {
      const li = stepLine(s, "ERROR " + s.text);
      if (s.body) li.append(el("pre", "", s.body));
      break;
    }
    case "end": stepLine(s, "call ends: " + s.text); break;
    default: stepLine(s, (s.kind === "warning" ? "WARNING " : "") + s.text);
  }
  if (state.call) setState("in call", false);
}

function openRequest(s) {
  const li = stepLine(s, "");
  li.textContent = "";
  const card = el("div", "request");
  card.append(el("div", "line", s.method + " " + s.url + (s.text ? "   [event " + s.text + "]" : "")));
  const d = el("details");
  d.append(el("summary", "", "parameters"));
  const t = el("table");
  const tb = el("tbody");
  for (const k of Object.keys(s.params || {})) {
    const tr = el("tr");
    tr.append(el("td", "", k), el("td", "", s.params[k]));
    tb.append(tr);
  }
  t.append(tb);
  d.append(t);
  card.append(d);
  const logs = el("div", "logs");
  card.append(logs);
  const ans = el("div", "answer", "waiting for the answer…");
  card.append(ans);
  li.append(el("span", "t", s.t.toFixed(1) + "s"), el("span", "at", s.at || ""), card);
  state.openRequest = { card, logs, ans };
}

function closeRequest(s) {
  const r = state.openRequest;
  if (!r) { stepLine(s, "response " + s.status); return; }
  r.ans.textContent = "";
  const st = el("span", "status" + (s.status === 200 ? "" : " bad"), "HTTP " + s.status);
  r.ans.append(st, document.createTextNode("  " + (s.ms !== undefined ? s.ms.toFixed(1) + " ms" : "")));
  r.ans.append(el("pre", "xml", prettyXML(s.body || "")));
  state.openRequest = null;
}

function onLog(l) {
  const target = state.openRequest ? state.openRequest.logs : $("#transcript");
  const line = el(target.tagName === "OL" ? "li" : "div", "log " + l.level);
  let text = l.level + " " + l.msg;
  const a = l.attrs || {};
  for (const k of ["text", "error", "location", "status", "ms"]) if (a[k] !== undefined && a[k] !== "") text += "  " + k + "=" + a[k];
  for (const k of Object.keys(a)) if (k.startsWith("fields.")) text += "  " + k.slice(7) + "=" + a[k];
  line.append(document.createTextNode(text));
  if (l.source) line.append(el("code", "src", l.location + "  " + l.source));
  if (a.traceback) {
    const d = el("details");
    d.append(el("summary", "", "traceback"), el("pre", "", a.traceback));
    line.append(d);
  }
  target.append(line);
}

// setVar shows a variable's value; its row's tooltip and its count list
// every value it had in this call, with where it was set.
function setVar(name, value, s) {
  state.vars[name] = value;
  const hist = (state.varHistory[name] = state.varHistory[name] || []);
  hist.push(s.t.toFixed(1) + "s " + (s.at || "") + ": \"" + value + "\"");
  let tr = document.querySelector('#vars tr[data-var="' + CSS.escape(name) + '"]');
  if (!tr) {
    tr = el("tr");
    tr.dataset.var = name;
    tr.append(el("td", "", name), el("td"));
    $("#vars tbody").append(tr);
  }
  tr.children[1].textContent = value + (hist.length > 1 ? " (" + hist.length + " values)" : "");
  tr.title = hist.join("\n");
  tr.classList.add("changed");
}

function showSession(sess) {
  const tb = $("#session tbody");
  tb.textContent = "";
  if (!sess || Object.keys(sess).length === 0) {
    const tr = el("tr", "empty");
    tr.append(el("td", "", "(empty)"));
    tb.append(tr);
    return;
  }
  for (const k of Object.keys(sess || {}).sort()) {
    const tr = el("tr");
    tr.dataset.field = k;
    tr.append(el("td", "", k), el("td", "", sess[k]));
    tb.append(tr);
  }
}

function onEnd(end) {
  const c = state.call;
  if (c) {
    c.es.close();
    state.lastCall = { ivr: c.ivr, caller: c.caller, entry: c.entry, inputs: end.inputs };
  }
  state.call = null;
  let o = end.outcome.state + (end.outcome.target ? " " + end.outcome.target : "");
  $("#outcome").textContent = "— " + o;
  $("#outcome").dataset.outcome = o;
  setState("call ended: " + o + (end.inputs ? " (keys " + end.inputs + ")" : ""));
  $("#hangup-btn").disabled = true;
  $("#replay-btn").disabled = false;
}

async function press(key) {
  if (!state.call) return;
  try {
    await api("POST", "/api/calls/" + state.call.id + "/press", { keys: key });
  } catch (e) { setState(e.message); }
}

async function silence() {
  if (!state.call) return;
  try {
    await api("POST", "/api/calls/" + state.call.id + "/silence", {});
  } catch (e) { setState(e.message); }
}

async function hangup() {
  if (!state.call) return;
  try {
    await api("POST", "/api/calls/" + state.call.id + "/hangup", {});
  } catch (e) { setState(e.message); }
}

function replay() {
  const l = state.lastCall;
  if (!l) return;
  placeCall(l.ivr, Object.assign({}, l.caller, { digits: l.inputs }), l.entry);
}

function speak(s) {
  window.dialuaSpoken.push(s);
  if (!$("#speak").checked || !window.speechSynthesis) return;
  const u = new SpeechSynthesisUtterance(s);
  window.speechSynthesis.speak(u);
}

// prettyXML indents an answer for reading; text that does not parse is
// shown as it came.
function prettyXML(src) {
  const doc = new DOMParser().parseFromString(src.replace(/^\uFEFF/, ""), "application/xml");
  if (!src.trim() || doc.getElementsByTagName("parsererror").length) return src;
  const out = [];
  const walk = (n, depth) => {
    const pad = "  ".repeat(depth);
    const attrs = Array.from(n.attributes).map((a) => " " + a.name + '="' + a.value + '"').join("");
    const kids = Array.from(n.childNodes).filter((k) => k.nodeType === 1 || (k.nodeType === 3 && k.textContent.trim()));
    if (kids.length === 0) out.push(pad + "<" + n.nodeName + attrs + "/>");
    else if (kids.length === 1 && kids[0].nodeType === 3) out.push(pad + "<" + n.nodeName + attrs + ">" + kids[0].textContent + "</" + n.nodeName + ">");
    else {
      out.push(pad + "<" + n.nodeName + attrs + ">");
      for (const k of kids) {
        if (k.nodeType === 1) walk(k, depth + 1);
        else out.push(pad + "  " + k.textContent.trim());
      }
      out.push(pad + "</" + n.nodeName + ">");
    }
  };
  walk(doc.documentElement, 0);
  return out.join("\n");
}

// --- scenarios --------------------------------------------------------------

async function runScenarios() {
  const file = $("#scenario").value;
  const box = $("#scenario-results");
  box.textContent = "running " + file + "…";
  let run;
  try {
    run = await api("POST", "/api/scenarios/run", { file });
  } catch (e) { box.textContent = e.message; return; }
  box.textContent = "";
  if (run.error) { box.append(el("div", "result fail", run.error)); return; }
  const sum = el("div", "summary", run.passed + " passed, " + run.failed + " failed");
  sum.dataset.passed = run.passed;
  sum.dataset.failed = run.failed;
  box.append(sum);
  for (const w of run.warnings || []) box.append(el("div", "result", "warning: " + w));
  for (const r of run.results) {
    const d = el("div", "result " + (r.passed ? "pass" : "fail"));
    d.append(el("div", "", (r.passed ? "PASS " : "FAIL ") + r.name));
    for (const diff of r.diffs || []) d.append(el("pre", "diff", diff));
    const det = el("details");
    det.append(el("summary", "", "transcript"), el("pre", "", r.transcript));
    d.append(det);
    box.append(d);
  }
}

// --- page-wide notices ----------------------------------------------------

function listenForSaves() {
  const es = new EventSource("/api/events");
  es.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.type !== "saved") return;
    $("#saved-text").textContent = e.file + " saved at " + e.at;
    $("#saved").hidden = false;
    $("#saved").dataset.file = e.file;
  };
}

// --- wiring ---------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#call-btn").addEventListener("click", () => placeCall($("#ivr").value, callerFromForm()));
  $("#hangup-btn").addEventListener("click", hangup);
  $("#replay-btn").addEventListener("click", replay);
  $("#saved-replay").addEventListener("click", replay);
  $("#silence-btn").addEventListener("click", silence);
  $("#run-scenarios").addEventListener("click", runScenarios);
  $("#ivr").addEventListener("change", () => { if (!state.call) loadFlow(); });
  for (const k of document.querySelectorAll("#keypad .key")) k.addEventListener("click", () => press(k.dataset.key));
  document.addEventListener("keydown", (e) => {
    if (e.target.closest && e.target.closest("input, select, textarea")) return;
    if (/^[0-9*#]$/.test(e.key)) { press(e.key); e.preventDefault(); }
    else if (e.key === " ") { silence(); e.preventDefault(); }
  });
  listenForSaves();
  loadLists().then(() => { document.body.dataset.ready = "1"; });
});
