// Rule editor: zones, lines and wall edges drawn on the camera's latest frame, in its pixels.
// Click points to draw (a line or a wall's top edge needs 2, a zone 3; Enter or double-click
// ends it), drag vertices, Delete removes the selected vertex (or the rule with the button).
// Lines show their A and B sides and the alarm direction as arrows; a wall edge (a climb rule)
// marks its outside. Routes list zones in order (drawn as numbered arrows between the zones'
// centres); renaming a zone renames it in the routes. Ground points pair an image point (picked
// on the frame) with its site metres: four or more give the camera's ground plane. Save sends the whole
// set to the parameter center; the running worker applies it without a restart.
import { h, api, toast } from "./lib.js";

const CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const HIT = 10; // pixels of the frame within which a click takes a vertex

export async function ruleEditor(id) {
  const enc = encodeURIComponent(id);
  const doc = await api(`/cameras/${enc}/rules`);
  let version = doc.version;
  const rules = [...doc.zones.map((z) => ({ kind: "zone", ...z })), ...doc.lines.map((l) => ({ kind: "line", ...l })),
    ...(doc.climbs || []).map((c) => ({ kind: "climb", ...c }))];
  const routes = (doc.routes || []).map((r) => ({ ...r }));
  const ground = (doc.ground ? doc.ground.pairs : []).map((p) => [...p]); // [x, y, X, Y]
  let picking = null; // the ground pair whose image point the next click sets
  let selected = rules.length ? 0 : -1;
  let drawing = null; // {kind, points} while drawing
  let drag = null; // {rule, index}
  let vertex = null; // selected vertex index of the selected rule

  const canvas = h("canvas", { width: 640, height: 480, "aria-label": "frame to draw on", tabindex: 0 });
  const g = canvas.getContext("2d");
  const frame = new Image();
  const note = h("p", { class: "meta" }, "loading the latest frame…");
  frame.onload = () => { canvas.width = frame.naturalWidth; canvas.height = frame.naturalHeight; note.textContent = `${frame.naturalWidth}×${frame.naturalHeight}, the latest analysed frame`; paint(); };
  frame.onerror = () => { note.textContent = "no live frame (is the camera running?): drawing on a blank 640×480"; paint(); };
  frame.src = `/api/v1/cameras/${enc}/frame.jpg?overlay=false&t=${Date.now()}`;

  const panel = h("div", {});

  function at(e) {
    const r = canvas.getBoundingClientRect();
    return [Math.round(((e.clientX - r.left) / r.width) * canvas.width), Math.round(((e.clientY - r.top) / r.height) * canvas.height)];
  }

  function arrow(x0, y0, x1, y1, color) {
    const a = Math.atan2(y1 - y0, x1 - x0), s = Math.max(8, canvas.width / 80);
    g.strokeStyle = g.fillStyle = color;
    g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1); g.stroke();
    g.beginPath(); g.moveTo(x1, y1);
    g.lineTo(x1 - s * Math.cos(a - 0.4), y1 - s * Math.sin(a - 0.4));
    g.lineTo(x1 - s * Math.cos(a + 0.4), y1 - s * Math.sin(a + 0.4)); g.fill();
  }

  function label(text, x, y, color) {
    g.font = `${Math.max(12, canvas.width / 50)}px sans-serif`;
    const w = g.measureText(text).width;
    g.fillStyle = color; g.fillRect(x - 3, y - 14, w + 6, 18);
    g.fillStyle = "#000"; g.fillText(text, x, y);
  }

  function paint() {
    g.clearRect(0, 0, canvas.width, canvas.height);
    if (frame.complete && frame.naturalWidth) g.drawImage(frame, 0, 0);
    else { g.fillStyle = "#222"; g.fillRect(0, 0, canvas.width, canvas.height); }
    g.lineWidth = Math.max(2, canvas.width / 320);
    rules.forEach((r, i) => {
      const on = i === selected;
      const color = on ? "#ff9f1c" : { zone: "#37b24d", line: "#22d3ee", climb: "#ff6b00" }[r.kind];
      g.strokeStyle = color;
      g.beginPath();
      r.points.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
      if (r.kind === "zone") { g.closePath(); g.fillStyle = on ? "rgba(255,159,28,.2)" : "rgba(55,178,77,.2)"; g.fill(); }
      g.stroke();
      if (r.kind === "line" && r.points.length >= 2) {
        for (let k = 0; k + 1 < r.points.length; k++) {
          const [ax, ay] = r.points[k], [bx, by] = r.points[k + 1];
          const mx = (ax + bx) / 2, my = (ay + by) / 2, len = Math.hypot(bx - ax, by - ay) || 1;
          const nx = (-(by - ay) / len) * 22, ny = ((bx - ax) / len) * 22; // towards side A
          label("A", mx + nx - 4, my + ny + 5, color);
          label("B", mx - nx - 4, my - ny + 5, color);
          if (r.direction !== "b_to_a") arrow(mx + nx * 0.6, my + ny * 0.6, mx - nx * 0.6, my - ny * 0.6, "#ff3040");
          if (r.direction !== "a_to_b") arrow(mx - nx * 0.6, my - ny * 0.6, mx + nx * 0.6, my + ny * 0.6, "#ff3040");
        }
      }
      if (r.kind === "climb" && r.points.length >= 2) {
        const [ax, ay] = r.points[0], [bx, by] = r.points[1];
        const len = Math.hypot(bx - ax, by - ay) || 1, sgn = r.outside === "a" ? 1 : -1;
        const nx = (-(by - ay) / len) * 26 * sgn, ny = ((bx - ax) / len) * 26 * sgn; // towards the outside
        label("outside", (ax + bx) / 2 + nx - 24, (ay + by) / 2 + ny + 5, color);
      }
      if (r.points.length) label(r.name, r.points[0][0], r.points[0][1] - 6, color);
      if (on) r.points.forEach(([x, y], k) => {
        g.fillStyle = k === vertex ? "#ff3040" : "#fff";
        g.beginPath(); g.arc(x, y, g.lineWidth * 2.5, 0, 7); g.fill();
      });
    });
    ground.forEach(([x, y], k) => {
      g.fillStyle = "#fff"; g.strokeStyle = "#000";
      g.beginPath(); g.moveTo(x, y - 7); g.lineTo(x + 7, y); g.lineTo(x, y + 7); g.lineTo(x - 7, y); g.closePath(); g.fill(); g.stroke();
      label(`G${k + 1}`, x + 9, y + 5, "#fff");
    });
    routes.forEach((route) => {
      const centres = route.zones.map((name) => {
        const z = rules.find((r) => r.kind === "zone" && r.name === name);
        if (!z) return null;
        return [z.points.reduce((a, p) => a + p[0], 0) / z.points.length, z.points.reduce((a, p) => a + p[1], 0) / z.points.length];
      });
      g.setLineDash([8, 5]);
      centres.forEach((c, k) => {
        if (!c) return;
        label(`${route.name} ${k + 1}`, c[0] - 10, c[1] + 5, "#e599f7");
        const next = centres[k + 1];
        if (next) arrow(c[0], c[1] + 12, next[0], next[1] + 12, "#e599f7");
      });
      g.setLineDash([]);
    });
    if (drawing) {
      g.strokeStyle = "#ff3040"; g.setLineDash([6, 4]);
      g.beginPath(); drawing.points.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y))); g.stroke();
      g.setLineDash([]);
      drawing.points.forEach(([x, y]) => { g.fillStyle = "#ff3040"; g.beginPath(); g.arc(x, y, g.lineWidth * 2.5, 0, 7); g.fill(); });
    }
  }

  function nearest(p) {
    let best = null;
    rules.forEach((r, i) => r.points.forEach(([x, y], k) => {
      const d = Math.hypot(x - p[0], y - p[1]) * (800 / canvas.width);
      if (d < HIT * 1.5 && (!best || d < best.d)) best = { d, rule: i, index: k };
    }));
    return best;
  }

  function uniqueName(base) {
    let n = 1;
    while (rules.some((r) => r.name === `${base}-${n}`)) n++;
    return `${base}-${n}`;
  }

  function finish() {
    if (!drawing) return;
    const need = drawing.kind === "zone" ? 3 : 2;
    if (drawing.points.length >= need) {
      const r = drawing.kind === "zone"
        ? { kind: "zone", name: uniqueName("zone"), points: drawing.points, min_dwell_s: 0 }
        : drawing.kind === "climb"
          ? { kind: "climb", name: uniqueName("wall"), points: drawing.points, outside: "a" }
          : { kind: "line", name: uniqueName("line"), points: drawing.points, direction: "any" };
      rules.push(r);
      selected = rules.length - 1;
    } else toast(`a ${NAMES[drawing.kind]} needs at least ${need} points`, true);
    drawing = null;
    renderPanel(); paint();
  }

  canvas.addEventListener("pointerdown", (e) => {
    const p = at(e); // before focusing: a canvas partly out of view must not scroll under the click
    canvas.focus({ preventScroll: true });
    if (drawing) { drawing.points.push(p); paint(); return; }
    if (picking !== null) { ground[picking][0] = p[0]; ground[picking][1] = p[1]; picking = null; renderPanel(); paint(); return; }
    const hit = nearest(p);
    if (hit) { selected = hit.rule; vertex = hit.index; drag = hit; canvas.setPointerCapture(e.pointerId); renderPanel(); }
    paint();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    rules[drag.rule].points[drag.index] = at(e);
    paint();
  });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("dblclick", (e) => { e.preventDefault(); if (drawing) { drawing.points.pop(); finish(); } });
  canvas.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish();
    else if (e.key === "Escape") { drawing = null; paint(); }
    else if ((e.key === "Delete" || e.key === "Backspace") && selected >= 0 && vertex !== null) {
      const r = rules[selected];
      if (r.points.length > (r.kind === "zone" ? 3 : 2)) { r.points.splice(vertex, 1); vertex = null; paint(); }
      else toast(`a ${r.kind} keeps at least ${r.kind === "zone" ? 3 : 2} points`, true);
    }
  });

  function num(rule, key, attrs, fallback = null) {
    const inp = h("input", { type: "number", step: "any", value: rule[key] ?? "", placeholder: "default", "aria-label": key, ...attrs });
    inp.addEventListener("change", () => { rule[key] = inp.value === "" ? fallback : Number(inp.value); });
    return inp;
  }

  function scheduleEditor(rule) {
    const box = h("div", {});
    const draw = () => {
      box.replaceChildren(h("div", { class: "meta" }, rule.schedule && rule.schedule.length ? "armed in these windows:" : "always armed"));
      (rule.schedule || []).forEach((w, i) => {
        const days = DAYS.map((d) => {
          const cb = h("input", { type: "checkbox", checked: w.days.includes(d), "aria-label": d });
          cb.addEventListener("change", () => { w.days = DAYS.filter((x) => (x === d ? cb.checked : w.days.includes(x))); });
          return h("label", {}, cb, d);
        });
        const start = h("input", { type: "time", value: String(w.start).slice(0, 5), "aria-label": "start" });
        const end = h("input", { type: "time", value: String(w.end).slice(0, 5), "aria-label": "end" });
        start.addEventListener("change", () => { w.start = start.value; });
        end.addEventListener("change", () => { w.end = end.value; });
        box.append(h("div", {}, ...days, start, "–", end,
          h("button", { onclick: () => { rule.schedule.splice(i, 1); if (!rule.schedule.length) rule.schedule = null; draw(); } }, "×")));
      });
      box.append(h("button", { onclick: () => { rule.schedule = [...(rule.schedule || []), { days: [...DAYS], start: "18:00", end: "06:00" }]; draw(); } }, "+ arming window"));
    };
    draw();
    return box;
  }

  function renderPanel() {
    const items = rules.map((r, i) => {
      const name = h("input", { value: r.name, "aria-label": "rule name", size: 14 });
      name.addEventListener("change", () => {
        if (r.kind === "zone") routes.forEach((route) => { route.zones = route.zones.map((z) => (z === r.name ? name.value : z)); });
        r.name = name.value; renderPanel(); paint();
      });
      const picked = () => (r.filter && r.filter.classes) || [];
      const classes = CLASSES.map((c) => {
        const cb = h("input", { type: "checkbox", checked: picked().includes(c), "aria-label": c });
        cb.addEventListener("change", () => {
          const now = CLASSES.filter((x) => (x === c ? cb.checked : picked().includes(x)));
          r.filter = { ...(r.filter || {}), classes: now.length ? now : null };
        });
        return h("label", {}, cb, c);
      });
      classes.push(h("span", { class: "meta" }, " (none ticked: the camera's classes)"));
      const fields = [h("label", {}, "name ", name)];
      if (r.kind === "line") {
        const dir = h("select", { "aria-label": "direction" }, ...["any", "a_to_b", "b_to_a"].map((d) => h("option", { value: d, selected: r.direction === d }, d.replace("_to_", " → ").toUpperCase())));
        dir.addEventListener("change", () => { r.direction = dir.value; paint(); });
        fields.push(h("label", {}, "alarm ", dir));
      } else if (r.kind === "climb") {
        const out = h("select", { "aria-label": "outside" }, ...["a", "b"].map((d) => h("option", { value: d, selected: r.outside === d }, `side ${d.toUpperCase()}`)));
        out.addEventListener("change", () => { r.outside = out.value; paint(); });
        fields.push(h("label", {}, "outside ", out), h("label", {}, "drop s ", num(r, "drop_s", { min: 0.1, max: 60 }, 2)));
      } else fields.push(h("label", {}, "dwell s ", num(r, "min_dwell_s", { min: 0 }, 0)));
      fields.push(h("label", {}, "confirm frames ", num(r, "confirm_frames", { min: 1, max: 100, step: 1 })),
        h("label", {}, "cooldown s ", num(r, "cooldown_s", { min: 0 })), h("div", {}, ...classes), scheduleEditor(r));
      const el = h("div", { class: `rule ${i === selected ? "selected" : ""}`, "data-rule": r.name },
        h("div", {}, h("strong", {}, `${r.kind} `), h("span", { class: "meta" }, `${r.points.length} points `),
          h("button", { onclick: () => { selected = i; vertex = null; renderPanel(); paint(); } }, "select"),
          h("button", { class: "danger", onclick: () => { rules.splice(i, 1); selected = -1; renderPanel(); paint(); } }, "delete")),
        ...fields);
      return el;
    });
    panel.replaceChildren(...items, ...routes.map(routeItem), groundItem());
  }

  function groundItem() {
    const rows = ground.map((pair, k) => {
      const cells = pair.map((v, i) => {
        const inp = h("input", { type: "number", step: "any", value: v, size: 6, "aria-label": `G${k + 1} ${["x", "y", "X", "Y"][i]}` });
        inp.addEventListener("change", () => { pair[i] = Number(inp.value); paint(); });
        return inp;
      });
      return h("div", { "data-ground": k + 1 }, `G${k + 1} px `, cells[0], cells[1], " m ", cells[2], cells[3],
        h("button", { onclick: () => { picking = k; canvas.focus(); toast(`click G${k + 1} on the ground`); } }, "pick"),
        h("button", { onclick: () => { ground.splice(k, 1); renderPanel(); paint(); } }, "×"));
    });
    return h("div", { class: "rule", "data-ground-plane": "" },
      h("div", {}, h("strong", {}, "ground plane "), h("span", { class: "meta" }, "4+ points on the ground: image px and site metres (events carry site coordinates)")),
      ...rows,
      h("button", { onclick: () => { ground.push([0, 0, 0, 0]); picking = ground.length - 1; renderPanel(); toast(`click G${ground.length} on the ground`); } }, "+ ground point"));
  }

  function routeItem(route, i) {
    const name = h("input", { value: route.name, "aria-label": "route name", size: 14 });
    name.addEventListener("change", () => { route.name = name.value; paint(); });
    const zones = h("input", { value: route.zones.join(", "), "aria-label": "route zones", size: 24 });
    zones.addEventListener("change", () => { route.zones = zones.value.split(",").map((z) => z.trim()).filter(Boolean); paint(); });
    return h("div", { class: "rule", "data-route": route.name },
      h("div", {}, h("strong", {}, "route "), h("span", { class: "meta" }, "zones entered in this order "),
        h("button", { class: "danger", onclick: () => { routes.splice(i, 1); renderPanel(); paint(); } }, "delete")),
      h("label", {}, "name ", name), h("label", {}, "zones ", zones),
      h("label", {}, "within s ", num(route, "within_s", { min: 1, max: 600 }, 60)),
      h("label", {}, "min speed (heights/s) ", num(route, "min_speed", { min: 0, max: 50 }, 0)),
      h("label", {}, "cooldown s ", num(route, "cooldown_s", { min: 0 })));
  }

  function addRoute() {
    const zones = rules.filter((r) => r.kind === "zone").map((r) => r.name);
    if (zones.length < 2) { toast("a route needs two zones: draw them first", true); return; }
    let n = 1;
    while (routes.some((r) => r.name === `route-${n}`)) n++;
    routes.push({ name: `route-${n}`, zones: zones.slice(0, 2), within_s: 60, min_speed: 0 });
    renderPanel(); paint();
  }

  async function save() {
    const body = {
      version,
      zones: rules.filter((r) => r.kind === "zone").map(({ kind, ...z }) => z),
      lines: rules.filter((r) => r.kind === "line").map(({ kind, ...l }) => l),
      climbs: rules.filter((r) => r.kind === "climb").map(({ kind, ...c }) => c),
      routes,
      ground: ground.length ? { ...(doc.ground || {}), pairs: ground } : null,
    };
    try {
      const got = await api(`/cameras/${enc}/rules`, { method: "PUT", body });
      version = got.version;
      toast(`saved: version ${version}, the worker applies it now`);
      saveBtn.dataset.version = version;
    } catch (err) { toast(err.status === 409 ? `changed elsewhere meanwhile: reload (${err.message})` : err.message, true); }
  }

  const NAMES = { zone: "zone", line: "line", climb: "wall's top edge" };
  const startDraw = (kind) => () => { drawing = { kind, points: [] }; canvas.focus(); toast(`click the ${NAMES[kind]}'s points; Enter or double-click ends it`); };
  const saveBtn = h("button", { class: "primary", onclick: save, "data-version": version }, "Save");
  renderPanel();
  paint();
  return [h("h1", {}, `Zones, lines, walls and routes · ${id}`),
    h("div", { class: "editor" },
      h("div", {}, h("div", { class: "toolbar" },
        h("button", { onclick: startDraw("line") }, "+ line"), h("button", { onclick: startDraw("zone") }, "+ zone"),
        h("button", { onclick: startDraw("climb") }, "+ wall edge"), h("button", { onclick: addRoute }, "+ route"),
        h("button", { onclick: finish }, "finish shape (Enter)"), saveBtn,
        h("a", { href: `#/camera/${enc}` }, h("button", {}, "back"))),
        h("div", { class: "stage" }, canvas), note),
      h("div", { class: "panel" }, panel))];
}
