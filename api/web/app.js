// PeriShield web UI: plain ES modules, no build step. Pages are hash routes; every call goes
// to /api/v1 with the session cookie, and writes carry the CSRF token from login.
import { h, api, session, toast, setSession, when, escapeId } from "./lib.js";
import { ruleEditor } from "./editor.js";

const main = document.getElementById("main");
let feed = null;          // the EventSource, shared by the pages
const listeners = new Set();
let unacked = 0;

function setUnacked(n) {
  unacked = Math.max(0, n);
  const shown = unacked >= 200 ? "200+" : unacked ? String(unacked) : "";
  document.getElementById("unacked").textContent = shown;
  document.title = (shown ? `(${shown}) ` : "") + "PeriShield";
}

async function countUnacked() {
  const page = await api(`/events?status=unacknowledged&limit=200`);
  setUnacked(page.events.length);
}

function openFeed() {
  if (feed) return;
  feed = new EventSource("/api/v1/stream");
  for (const kind of ["alarm", "clip", "ack", "camera"]) {
    feed.addEventListener(kind, (e) => {
      const data = JSON.parse(e.data);
      if (kind === "alarm") setUnacked(unacked + 1);
      if (kind === "ack") countUnacked().catch(() => {});
      for (const fn of listeners) fn(kind, data);
    });
  }
}

function onFeed(fn) { listeners.add(fn); return () => listeners.delete(fn); }

// -- login --------------------------------------------------------------------------------------

function loginPage() {
  const name = h("input", { name: "name", autocomplete: "username", required: true, "aria-label": "name" });
  const pw = h("input", { name: "password", type: "password", autocomplete: "current-password",
                          required: true, "aria-label": "password" });
  const form = h("form", { class: "login" }, h("h1", {}, "Log in"), name, pw,
                 h("button", { class: "primary", type: "submit" }, "Log in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const me = await api("/login", { method: "POST", body: { name: name.value, password: pw.value } });
      setSession(me);
      start();
      location.hash = "#/cameras";
    } catch (err) { toast(err.message, true); }
  });
  return form;
}

// -- cameras ------------------------------------------------------------------------------------

function badge(state) { return h("span", { class: `badge ${state}`, "data-state": state }, state); }

async function camerasPage() {
  const { cameras } = await api("/cameras");
  const grid = h("div", { class: "grid" });
  for (const c of cameras) {
    const tile = h("div", { class: "tile", "data-camera": c.id },
      h("a", { href: `#/camera/${encodeURIComponent(c.id)}` },
        h("div", { class: "head" }, h("strong", {}, c.name || c.id), badge(c.state)),
        h("img", { alt: `live view of ${c.id}`, src: `/api/v1/cameras/${encodeURIComponent(c.id)}/live.mjpeg` }),
        h("div", { class: "head meta" },
          h("span", {}, c.worker ? `on ${c.worker}` : "no worker"),
          h("span", {}, `${c.fps.toFixed(1)} fps · lag p99 ${Math.round(c.lag_p99_ms)} ms`))));
    grid.append(tile);
  }
  const off = onFeed((kind, d) => {
    if (kind !== "camera") return;
    const b = grid.querySelector(`[data-camera="${escapeId(d.id)}"] .badge`);
    if (b) b.replaceWith(badge(d.state));
  });
  return [h("h1", {}, `Cameras (${cameras.length})`),
          cameras.length ? grid : h("p", {}, "No cameras yet: add them with `perishield params put` or the API."), off];
}

async function cameraPage(id) {
  const doc = await api(`/cameras/${encodeURIComponent(id)}`);
  const { events } = await api(`/events?camera=${encodeURIComponent(id)}&limit=20`);
  const list = h("ul", { class: "list" });
  for (const ev of events) list.append(alarmRow(ev, () => { location.hash = `#/alarms/${ev.id}`; }));
  const ruler = heightRuler(doc.status.heights);
  const tools = session().role === "admin"
    ? h("a", { href: `#/camera/${encodeURIComponent(id)}/rules` }, h("button", { class: "primary" }, "Edit zones and lines"))
    : "";
  return [h("h1", {}, doc.camera.name || id, " ", badge(doc.status.state)),
    h("div", { class: "split" },
      h("div", { class: "view panel" },
        h("div", { class: "live-stage" },
          h("img", { alt: `live view of ${id}`, src: `/api/v1/cameras/${encodeURIComponent(id)}/live.mjpeg`,
            onload: (e) => ruler && ruler.setAttribute("viewBox", `0 0 ${e.target.naturalWidth} ${e.target.naturalHeight}`) }),
          ruler || ""),
        h("p", { class: "meta" }, `${doc.camera.zones.length} zones, ${doc.camera.lines.length} lines, ${doc.camera.routes.length} routes · version ${doc.version} · `,
          doc.status.worker ? `on ${doc.status.worker}` : "no worker", doc.status.mode === "night" ? " · night mode" : "", " "), tools),
      h("div", { class: "panel" }, h("h2", {}, "Recent alarms"), events.length ? list : h("p", { class: "meta" }, "none")))];
}

// -- alarms -------------------------------------------------------------------------------------

function verdictText(ev) {
  const a = ev.acknowledgement;
  return a ? `${a.verdict === "false_alarm" ? "false alarm" : "confirmed"} by ${a.operator}` : "unacknowledged";
}

function alarmRow(ev, select) {
  const row = h("li", { class: `alarm ${ev.acknowledgement ? "" : "unacked"}`, "data-event": ev.id, tabindex: 0 },
    h("img", { alt: "snapshot", loading: "lazy", src: ev.snapshot ? `/api/v1/evidence/${ev.snapshot}` : "" }),
    h("div", {},
      h("strong", {}, `${ev.camera} · ${ev.rule}`), " ", h("span", { class: "meta" }, ev.direction || ""),
      h("div", { class: "meta" }, `${ev.class} ${ev.score.toFixed(2)} · ${new Date(ev.capture_time).toLocaleString()}`),
      h("div", { class: "meta verdict" }, verdictText(ev))));
  row.addEventListener("click", select);
  return row;
}

async function acknowledge(id, verdict) {
  await api(`/events/${id}/ack`, { method: "POST", body: { verdict } });
  toast(verdict === "false_alarm" ? "marked as a false alarm" : "acknowledged");
}

function drawTrajectory(canvas, img, ev) {
  const fit = () => {
    if (!img.naturalWidth) return;
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.lineWidth = Math.max(2, canvas.width / 300);
    g.strokeStyle = "#ffdd00";
    g.beginPath();
    ev.trajectory.forEach(([, x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
    g.stroke();
    if (ev.point) {
      g.fillStyle = "#ff3040";
      g.beginPath(); g.arc(ev.point[0], ev.point[1], g.lineWidth * 3, 0, 7); g.fill();
    }
  };
  img.addEventListener("load", fit);
  fit();
}

function alarmDetail(ev) {
  const img = h("img", { alt: "snapshot", src: ev.snapshot ? `/api/v1/evidence/${ev.snapshot}` : "" });
  const canvas = h("canvas", { "aria-hidden": "true" });
  drawTrajectory(canvas, img, ev);
  const clip = ev.clip_status === "ready" && ev.clip
    ? h("video", { controls: true, preload: "metadata", src: `/api/v1/evidence/${ev.clip}`, "data-clip": ev.id })
    : h("p", { class: "meta clip-state" }, `clip: ${ev.clip_status}`);
  const can = session().role !== "viewer";
  return h("div", { class: "panel detail", "data-event": ev.id },
    h("h2", {}, `${ev.camera} · ${ev.rule} ${ev.direction || ""}`),
    h("p", { class: "meta" }, `${ev.class} (track ${ev.track_id}, score ${ev.score.toFixed(2)}) · act at ${new Date(ev.capture_time).toLocaleString()} · alarm ${Math.round(new Date(ev.detected_at) - new Date(ev.capture_time))} ms later`),
    h("div", { class: "evidence" }, img, canvas), clip,
    h("p", { class: "meta verdict" }, verdictText(ev)),
    can ? h("div", { class: "actions" },
      h("button", { class: "primary", "data-action": "confirm", onclick: () => acknowledge(ev.id, "confirmed") }, "Acknowledge (a)"),
      h("button", { class: "danger", "data-action": "false", onclick: () => acknowledge(ev.id, "false_alarm") }, "False alarm (f)")) : "",
    h("p", { class: "meta" }, h("kbd", {}, "j"), "/", h("kbd", {}, "k"), " next/previous · ",
      h("kbd", {}, "a"), " acknowledge · ", h("kbd", {}, "f"), " false alarm"));
}

async function alarmsPage(selectedId) {
  const camera = h("input", { placeholder: "camera", "aria-label": "camera filter", size: 12 });
  const status = h("select", { "aria-label": "status filter" },
    ...["", "unacknowledged", "confirmed", "false_alarm"].map((s) => h("option", { value: s }, s || "all")));
  const list = h("ul", { class: "list", id: "feed" });
  const detail = h("div", {});
  let events = [];
  let selected = selectedId || null;

  const select = async (id) => {
    selected = id;
    for (const li of list.children) li.classList.toggle("selected", li.dataset.event === id);
    const ev = await api(`/events/${id}`);
    detail.replaceChildren(alarmDetail(ev));
    history.replaceState(null, "", `#/alarms/${id}`);
  };
  const render = () => {
    list.replaceChildren(...events.map((ev) => alarmRow(ev, () => select(ev.id))));
    if (selected) for (const li of list.children) li.classList.toggle("selected", li.dataset.event === selected);
  };
  const load = async () => {
    const q = new URLSearchParams({ limit: "50" });
    if (camera.value) q.set("camera", camera.value);
    if (status.value) q.set("status", status.value);
    events = (await api(`/events?${q}`)).events;
    render();
    if (selected) await select(selected).catch(() => {});
    else if (events.length) await select(events[0].id);
  };
  camera.addEventListener("change", load);
  status.addEventListener("change", load);

  const off = onFeed(async (kind, d) => {
    if (kind === "alarm") {
      if ((camera.value && d.camera !== camera.value) || (status.value && status.value !== "unacknowledged")) return;
      events.unshift({ ...d, acknowledgement: null });
      render();
      toast(`alarm: ${d.camera} · ${d.rule}`);
    } else if (kind === "ack" || kind === "clip") {
      const id = kind === "ack" ? d.event_id : d.id;
      const i = events.findIndex((e) => e.id === id);
      if (i >= 0) {
        events[i] = { ...events[i], ...(kind === "ack" ? { acknowledgement: d } : d) };
        render();
      }
      if (id === selected) await select(id);
    }
  });
  const keys = (e) => {
    if (e.target.matches("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const i = events.findIndex((ev) => ev.id === selected);
    if (e.key === "j" && i < events.length - 1) select(events[i + 1].id);
    else if (e.key === "k" && i > 0) select(events[i - 1].id);
    else if (e.key === "a" && selected && session().role !== "viewer") acknowledge(selected, "confirmed").catch((err) => toast(err.message, true));
    else if (e.key === "f" && selected && session().role !== "viewer") acknowledge(selected, "false_alarm").catch((err) => toast(err.message, true));
  };
  document.addEventListener("keydown", keys);
  await load();
  return [h("h1", {}, "Alarms"), h("div", { class: "filters" }, camera, status),
    h("div", { class: "split" }, h("div", { class: "panel" }, detail), h("div", { class: "panel" }, list)),
    () => { off(); document.removeEventListener("keydown", keys); }];
}

// -- site map -----------------------------------------------------------------------------------

async function mapPage() {
  const admin = session().role === "admin";
  const { cameras } = await api("/cameras");
  let layout = await api("/site/layout");
  const alarmed = new Set((await api("/events?status=unacknowledged&limit=200")).events.map((e) => e.camera));
  const img = h("img", { alt: "site map", src: `/api/v1/site/map?t=${Date.now()}` });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 1000 1000");
  svg.setAttribute("preserveAspectRatio", "none");
  const wrap = h("div", { class: "map" }, img, svg);
  let placing = null;

  const draw = () => {
    svg.replaceChildren();
    for (const [id, p] of Object.entries(layout.cameras)) {
      const g = document.createElementNS(svg.namespaceURI, "g");
      const cx = p.x * 1000, cy = p.y * 1000, r = p.range * 1000;
      const a0 = ((p.heading - p.fov / 2 - 90) * Math.PI) / 180, a1 = ((p.heading + p.fov / 2 - 90) * Math.PI) / 180;
      const wedge = document.createElementNS(svg.namespaceURI, "path");
      wedge.setAttribute("d", `M${cx},${cy} L${cx + r * Math.cos(a0)},${cy + r * Math.sin(a0)} A${r},${r} 0 ${p.fov > 180 ? 1 : 0} 1 ${cx + r * Math.cos(a1)},${cy + r * Math.sin(a1)} Z`);
      wedge.setAttribute("class", `fov ${alarmed.has(id) ? "alarm" : ""}`);
      const dot = document.createElementNS(svg.namespaceURI, "circle");
      Object.entries({ cx, cy, r: 9, class: `cam-dot ${alarmed.has(id) ? "alarm" : ""}`, "data-camera": id }).forEach(([k, v]) => dot.setAttribute(k, v));
      const title = document.createElementNS(svg.namespaceURI, "title");
      title.textContent = id;
      dot.append(title);
      g.append(wedge, dot);
      svg.append(g);
    }
  };
  svg.addEventListener("click", (e) => {
    if (!placing) return;
    const box = svg.getBoundingClientRect();
    const old = layout.cameras[placing] || { heading: 0, fov: 60, range: 0.1 };
    layout.cameras[placing] = { ...old, x: (e.clientX - box.left) / box.width, y: (e.clientY - box.top) / box.height };
    draw();
  });
  const off = onFeed((kind, d) => {
    if (kind === "alarm") alarmed.add(d.camera);
    if (kind === "ack") api("/events?status=unacknowledged&limit=200").then((p) => {
      alarmed.clear(); p.events.forEach((e) => alarmed.add(e.camera)); draw();
    });
    draw();
  });
  img.addEventListener("error", () => img.replaceWith(h("p", { class: "meta" }, admin ? "No map yet: upload a campus plan." : "No map uploaded yet.")));
  draw();

  const tools = [];
  if (admin) {
    const file = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp", "aria-label": "map image" });
    file.addEventListener("change", async () => {
      const f = file.files[0];
      if (!f) return;
      await api("/site/map", { method: "PUT", raw: f, type: f.type });
      toast("map uploaded"); route();
    });
    const which = h("select", { "aria-label": "camera to place" }, ...cameras.map((c) => h("option", { value: c.id }, c.id)));
    const heading = h("input", { type: "number", min: 0, max: 359, value: 0, "aria-label": "heading" });
    const fov = h("input", { type: "number", min: 1, max: 360, value: 60, "aria-label": "field of view" });
    const sync = () => { const p = layout.cameras[which.value]; if (p) { heading.value = p.heading; fov.value = p.fov; } placing = which.value; };
    which.addEventListener("change", sync);
    for (const inp of [heading, fov]) inp.addEventListener("change", () => {
      const p = layout.cameras[which.value];
      if (p) { p.heading = Number(heading.value) % 360; p.fov = Number(fov.value); draw(); }
    });
    sync();
    tools.push(h("div", { class: "filters" }, h("label", {}, "Plan ", file), "Place ", which,
      " (click the map) heading ", heading, " fov ", fov,
      h("button", { class: "primary", onclick: async () => { layout = await api("/site/layout", { method: "PUT", body: layout }); toast("layout saved"); } }, "Save layout")));
  }
  return [h("h1", {}, "Site map"), ...tools, wrap, off];
}

// -- health and figures -------------------------------------------------------------------------

async function healthPage() {
  const s = await api("/site/health");
  const check = (name, c) => h("tr", {}, h("td", {}, name), h("td", { class: c.ok ? "ok" : "bad" }, c.ok ? "ok" : "down"), h("td", {}, c.detail));
  const workers = Object.entries(s.workers).map(([id, w]) => h("tr", {}, h("td", {}, id), h("td", {}, w.host || ""),
    h("td", {}, w.running ? w.running.split(",").filter(Boolean).length : 0), h("td", {}, w.capacity || ""),
    h("td", {}, w.draining === "1" ? "draining" : "active"), h("td", {}, w.detector || ""),
    h("td", {}, w.heartbeat ? `${Math.round(Date.now() / 1000 - Number(w.heartbeat))} s ago` : "")));
  const cams = await api("/cameras");
  const camRows = cams.cameras.map((c) => h("tr", {}, h("td", {}, c.id), h("td", {}, badge(c.state)), h("td", {}, c.worker || "—"),
    h("td", {}, c.fps.toFixed(1)), h("td", {}, `${Math.round(c.lag_p50_ms)} / ${Math.round(c.lag_p99_ms)} ms`), h("td", { class: "meta" }, c.reason)));
  return [h("h1", {}, "Health"),
    h("div", { class: "panel" }, h("table", {}, h("tbody", {}, check("Database", s.database), check("Redis", s.redis), check("Broker", s.broker)))),
    h("h2", {}, `Workers (${Object.keys(s.workers).length})`),
    h("div", { class: "panel" }, h("table", {}, h("thead", {}, h("tr", {}, ...["worker", "host", "cameras", "capacity", "state", "detector", "heartbeat"].map((t) => h("th", {}, t)))), h("tbody", {}, ...workers))),
    h("h2", {}, "Cameras and leases"),
    h("div", { class: "panel" }, h("table", {}, h("thead", {}, h("tr", {}, ...["camera", "state", "worker", "fps", "lag p50 / p99", "reason"].map((t) => h("th", {}, t)))), h("tbody", {}, ...camRows)))];
}

async function statsPage() {
  const days = h("select", { "aria-label": "days" }, ...[7, 30, 90].map((d) => h("option", { value: d, selected: d === 30 }, `${d} days`)));
  const body = h("tbody", {});
  const load = async () => {
    const { rows } = await api(`/stats/false-alarms?days=${days.value}`);
    const per = new Map();
    for (const r of rows) {
      const k = `${r.camera}\u0000${r.rule}`;
      const t = per.get(k) || { camera: r.camera, rule: r.rule, events: 0, confirmed: 0, false_alarms: 0, days: [] };
      t.events += r.events; t.confirmed += r.confirmed; t.false_alarms += r.false_alarms; t.days.push(r);
      per.set(k, t);
    }
    const sorted = [...per.values()].sort((a, b) => b.false_alarms - a.false_alarms);
    body.replaceChildren(...sorted.map((t) => h("tr", {}, h("td", {}, t.camera), h("td", {}, t.rule), h("td", {}, t.events),
      h("td", {}, t.confirmed), h("td", { class: t.false_alarms ? "bad" : "" }, t.false_alarms),
      h("td", {}, `${(t.false_alarms / Math.max(1, t.days.length)).toFixed(2)}`),
      h("td", { class: "meta" }, t.days.slice(-7).map((d) => `${d.day.slice(5)}: ${d.false_alarms}/${d.events}`).join(" · ")))));
  };
  days.addEventListener("change", load);
  await load();
  return [h("h1", {}, "False alarms per camera and rule"), h("div", { class: "filters" }, days,
    h("span", { class: "meta" }, "from the operators' marks; the rule at the top is the one to fix")),
    h("div", { class: "panel" }, h("table", {}, h("thead", {}, h("tr", {}, ...["camera", "rule", "events", "confirmed", "false alarms", "per day", "last days (false/all)"].map((t) => h("th", {}, t)))), body))];
}

// -- routing ------------------------------------------------------------------------------------

let cleanup = [];

async function route() {
  for (const fn of cleanup) fn();
  cleanup = [];
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (!session()) { main.replaceChildren(loginPage()); return; }
  const page = parts[0] || "cameras";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page || (page === "camera" && a.dataset.page === "cameras"));
  let got;
  try {
    if (page === "camera" && parts[2] === "rules") got = await ruleEditor(parts[1]);
    else if (page === "camera") got = await cameraPage(parts[1]);
    else if (page === "alarms") got = await alarmsPage(parts[1]);
    else if (page === "map") got = await mapPage();
    else if (page === "health") got = await healthPage();
    else if (page === "stats") got = await statsPage();
    else got = await camerasPage();
  } catch (err) {
    if (err.status === 401) { setSession(null); return route(); }
    got = [h("p", { class: "bad" }, err.message)];
  }
  const nodes = [];
  for (const x of [].concat(got)) (typeof x === "function" ? cleanup : nodes).push(x);
  main.replaceChildren(...nodes);
  main.dataset.page = page;
}

function start() {
  const me = session();
  document.getElementById("nav").hidden = false;
  const out = h("button", { onclick: async () => { await api("/logout", { method: "POST" }).catch(() => {}); setSession(null); location.hash = "#/"; location.reload(); } }, "Log out");
  document.getElementById("who").replaceChildren(`${me.name} (${me.role}) `, out);
  openFeed();
  countUnacked().catch(() => {});
}

window.addEventListener("hashchange", route);
when(async () => {
  try { setSession(await api("/me")); start(); } catch { setSession(null); }
  await route();
});

// The learned perspective model as a ruler over the live view: at a few foot points, a bar as
// tall as a person is expected to be there (cameras[].perspective).
function heightRuler(heights) {
  const person = heights && heights.person;
  if (!person || !person.coef) return null;
  const [a, b, c] = person.coef;
  const W = 640, H = 480, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "height-ruler");
  svg.setAttribute("aria-label", `expected person heights (${person.samples} boxes learned)`);
  [0.45, 0.6, 0.75, 0.9].forEach((fy, k) => {
    const x = W * (0.15 + 0.23 * k), y = H * fy, tall = a + b * y + c * x;
    if (!(tall > 2)) return;
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: x, y1: y, x2: x, y2: y - tall, class: "bar" }).forEach(([k2, v]) => line.setAttribute(k2, v));
    const text = document.createElementNS(ns, "text");
    Object.entries({ x: x + 4, y: y - tall / 2 }).forEach(([k2, v]) => text.setAttribute(k2, v));
    text.textContent = `${Math.round(tall)} px`;
    svg.append(line, text);
  });
  return svg;
}
