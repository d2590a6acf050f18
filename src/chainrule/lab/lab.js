/* chainrule lab: the experiments' page components (slope, landscape, vanish, modes).
 *
 * Needs, before it: the op table's JS (chainrule.ops.js_runtime(): OPS and R) and the player
 * (chainrule/viz/player.js), whose computeState() evaluates a recorded program with OPS:
 * values forward, gradients by the engine's backward order. Nothing here knows a derivative.
 *
 * A component is a <div data-chainrule-lab="slope"> holding its data in a
 * <script type="application/json"> child (made by chainrule.lab.pages); every such element is
 * mounted when this file runs (and ChainruleLab.mountAll(root) mounts more later).
 *   ChainruleLab.mount(element, data) -> component
 */
(function (root) {
  "use strict";
  const P = root.ChainrulePlayer;
  const SVGNS = "http://www.w3.org/2000/svg";
  const MINUS = "\u2212";
  let uid = 0;
  const PLOT_LEFT = 60, PLOT_RIGHT = 12;   // the plot area's margins in a drawing's units (see plot())
  let DIGITS = 6;   // the page's number policy: chainrule.numfmt's, with the digits the page was made with
  const fmt = (v, d) => P.fmt(v, d || DIGITS);
  const signed = (v) => (v > 0 ? "+" : "") + fmt(v);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  // ------------------------------------------------------------------ a program, evaluated in the page
  // evaluate({x: 2}) -> {value, grad(name)} or {error}: the recorded program rerun with the op table.
  function evaluator(data) {
    const G = P.makeGraph({trace: data.trace, links: [], exprs: null});
    const inputs = new Map();
    for (const n of G.nodes) if (n.kind === "input") inputs.set(n.label, n.id);
    const ctx = {domains: data.domains || {}};
    return function (values) {
      const S = P.computeState(G, ctx, (n) => (n.kind === "input" && n.label in values ? values[n.label] : n.value));
      if (S.error) return {error: S.error};
      const value = S.value[G.output];
      if (!Number.isFinite(value)) return {error: "not a finite number"};
      return {value, grad: (name) => { const g = S.grad ? S.grad[inputs.get(name)] : null; return g === null || g === undefined ? 0 : g; }};
    };
  }

  // ------------------------------------------------------------------ drawing helpers
  function el(tag, attrs, parent, text) {
    const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  const lin = (a, b, c, d) => (v) => c + (v - a) * (d - c) / (b - a || 1);

  function ticks(lo, hi, n) {
    const span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    return out;
  }

  // An x–y plot in an SVG: axes, ticks, labels; returns the scales and a layer to draw in.
  function plot(svg, W, H, xr, yr, xlabel, ylabel) {
    svg.innerHTML = "";
    const m = {l: PLOT_LEFT, r: PLOT_RIGHT, t: 10, b: 34};
    const sx = lin(xr[0], xr[1], m.l, W - m.r), sy = lin(yr[0], yr[1], H - m.b, m.t);
    const g = el("svg:g", {class: "crl-axes"}, svg);
    el("svg:rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: "crl-frame"}, g);
    for (const t of ticks(xr[0], xr[1], 6)) {
      el("svg:line", {x1: sx(t), x2: sx(t), y1: m.t, y2: H - m.b, class: "crl-grid"}, g);
      el("svg:text", {x: sx(t), y: H - m.b + 14, "text-anchor": "middle"}, g, fmt(t, 4));
    }
    for (const t of ticks(yr[0], yr[1], 5)) {
      el("svg:line", {x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t), class: "crl-grid"}, g);
      el("svg:text", {x: m.l - 5, y: sy(t) + 4, "text-anchor": "end"}, g, fmt(t, 4));
    }
    el("svg:text", {x: (m.l + W - m.r) / 2, y: H - 4, "text-anchor": "middle", class: "crl-label"}, g, xlabel);
    el("svg:text", {x: 12, y: (m.t + H - m.b) / 2, "text-anchor": "middle", class: "crl-label",
                    transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`}, g, ylabel);
    const clipId = `crl-clip-${++uid}`;
    const clip = el("svg:clipPath", {id: clipId}, el("svg:defs", {}, svg));
    el("svg:rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b}, clip);
    const layer = el("svg:g", {"clip-path": `url(#${clipId})`}, svg);
    return {sx, sy, layer, m, W, H, ix: lin(m.l, W - m.r, xr[0], xr[1])};
  }

  function pathOf(xs, ys, sx, sy) {
    let d = "", pen = false;
    xs.forEach((x, i) => {
      const y = ys[i];
      if (y === null || !Number.isFinite(y)) { pen = false; return; }
      d += (pen ? "L" : "M") + sx(x).toFixed(2) + " " + sy(y).toFixed(2);
      pen = true;
    });
    return d;
  }

  function range(ys, pad) {
    const f = ys.filter((v) => v !== null && Number.isFinite(v));
    if (!f.length) return [-1, 1];
    let lo = Math.min(...f), hi = Math.max(...f);
    if (hi === lo) { lo -= 1; hi += 1; }
    const p = (hi - lo) * (pad || 0.08);
    return [lo - p, hi + p];
  }

  function sample(lo, hi, n) { return Array.from({length: n}, (_, i) => lo + (hi - lo) * i / (n - 1)); }

  function slider(parent, id, label, lo, hi, step, value) {
    const wrap = el("div", {class: "crl-slider"}, parent);
    el("label", {for: id}, wrap, label);
    const input = el("input", {type: "range", id, min: lo, max: hi, step, value}, wrap);
    const out = el("output", {for: id, class: "crl-num"}, wrap);
    return {input, out};
  }

  function readout(parent, rows) {
    const dl = el("dl", {class: "crl-readout"}, parent);
    const cells = {};
    for (const [key, label] of rows) {
      const row = el("div", {class: "crl-kv"}, dl);
      el("dt", {}, row, label);
      cells[key] = el("dd", {"data-key": key, class: "crl-num"}, row);
    }
    return cells;
  }

  function head(host, data, kind) {
    const box = el("section", {class: `crl crl-${kind}`, "aria-label": data.title}, null);
    host.appendChild(box);
    el("h2", {class: "crl-title"}, box, data.title);
    if (data.intro) el("p", {class: "crl-intro"}, box, data.intro);
    if (data.program) el("pre", {class: "crl-program"}, box, data.program);
    return box;
  }

  function pointer(target, onPoint) {
    // click or drag: onPoint(clientX, clientY, rect) while the button is down
    let down = false;
    target.addEventListener("pointerdown", (e) => {
      down = true;
      if (target.setPointerCapture) try { target.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events */ }
      onPoint(e.clientX, e.clientY, target.getBoundingClientRect());
      e.preventDefault();
    });
    target.addEventListener("pointermove", (e) => { if (down) onPoint(e.clientX, e.clientY, target.getBoundingClientRect()); });
    const up = () => { down = false; };
    target.addEventListener("pointerup", up);
    target.addEventListener("pointercancel", up);
  }

  // ------------------------------------------------------------------ slope: drag x, watch the tangent line
  function Slope(host, data) {
    const id = `crl${++uid}`, f = data.output, x = data.x;
    const ev = evaluator(data);
    const box = head(host, data, "slope");
    const fig = el("figure", {class: "crl-figure"}, box);
    const W = 600, H = 340;
    const svg = el("svg:svg", {viewBox: `0 0 ${W} ${H}`, class: "crl-plot", role: "img", tabindex: 0,
                               "aria-labelledby": `${id}-alt`, "aria-roledescription": "plot",
                               "data-role": "curve"}, fig);
    const alt = el("figcaption", {id: `${id}-alt`, class: "crl-alt", "aria-live": "polite"}, fig);
    const controls = el("div", {class: "crl-controls"}, box);
    const [lo, hi] = data.span;
    const step = (hi - lo) / 1000;
    const s = slider(controls, `${id}-x`, x, lo, hi, step, data.at);
    el("p", {class: "crl-hint"}, controls, "drag on the plot, or use the slider (arrow keys)");
    const cells = readout(box, [["x", x], ["value", `${f}(${x})`], ["slope", `d${f}/d${x} — the slope here`],
                               ["prediction", `predict ${f}(${x} + ${fmt(data.dx)})`], ["true", "true value"],
                               ["error", "off by"]]);
    // the curve, once: every point by the op table in this page
    const xs = sample(lo, hi, 241);
    const ys = xs.map((u) => { const r = ev(Object.assign({}, data.inputs, {[x]: u})); return r.error ? null : r.value; });
    const yr = range(ys);
    const details = el("details", {class: "crl-table-box"}, box);
    el("summary", {}, details, "The curve as a table");
    const table = el("table", {class: "crl-table"}, details);
    const tr0 = el("tr", {}, el("thead", {}, table));
    el("th", {scope: "col"}, tr0, x); el("th", {scope: "col"}, tr0, `${f}(${x})`);
    const tb = el("tbody", {}, table);
    for (let i = 0; i < xs.length; i += 24) {
      const tr = el("tr", {}, tb);
      el("td", {}, tr, fmt(xs[i])); el("td", {}, tr, ys[i] === null ? "undefined" : fmt(ys[i]));
    }
    const self = {data, x0: data.at, el: box, svg};

    function draw(x0) {
      const r = ev(Object.assign({}, data.inputs, {[x]: x0}));
      const p = plot(svg, W, H, [lo, hi], yr, x, f);
      el("svg:path", {d: pathOf(xs, ys, p.sx, p.sy), class: "crl-curve"}, p.layer);
      s.input.value = x0;
      s.out.textContent = fmt(x0);
      cells.x.textContent = fmt(x0);
      if (r.error) {
        cells.value.textContent = "undefined"; cells.slope.textContent = "—";
        cells.prediction.textContent = "—"; cells.true.textContent = "—"; cells.error.textContent = "—";
        alt.textContent = `${f}(${x}) is undefined at ${x} = ${fmt(x0)}: ${r.error}.`;
        Object.assign(self, {x0, value: null, slope: null, prediction: null, trueValue: null});
        return;
      }
      const v = r.value, d = r.grad(x), x1 = x0 + data.dx;
      const pred = v + d * data.dx;
      const t = ev(Object.assign({}, data.inputs, {[x]: x1}));
      const tv = t.error ? null : t.value;
      el("svg:path", {d: `M${p.sx(lo)} ${p.sy(v + d * (lo - x0))}L${p.sx(hi)} ${p.sy(v + d * (hi - x0))}`,
                      class: "crl-tangent"}, p.layer);
      el("svg:circle", {cx: p.sx(x0), cy: p.sy(v), r: 6, class: "crl-point", "data-role": "point"}, p.layer);
      el("svg:path", {d: `M${p.sx(x1)} ${p.sy(pred) - 6}l5 9h-10z`, class: "crl-pred"}, p.layer);
      if (tv !== null) el("svg:rect", {x: p.sx(x1) - 4, y: p.sy(tv) - 4, width: 8, height: 8, class: "crl-true"}, p.layer);
      cells.value.textContent = fmt(v);
      cells.slope.textContent = fmt(d);
      cells.prediction.textContent = `${fmt(v)} + ${d < 0 ? "(" + fmt(d) + ")" : fmt(d)}·${fmt(data.dx)} = ${fmt(pred)}`;
      cells.true.textContent = tv === null ? "undefined" : fmt(tv);
      cells.error.textContent = tv === null ? "—" : fmt(tv - pred);
      const trend = d > 0 ? "going up" : d < 0 ? "going down" : "flat (the bottom or top of a bend)";
      alt.textContent = `The curve ${f}(${x}) for ${x} from ${fmt(lo)} to ${fmt(hi)}, with its tangent line at ` +
        `${x} = ${fmt(x0)}: ${f} = ${fmt(v)}, slope ${fmt(d)} (the curve is ${trend} there). ` +
        `The tangent predicts ${f}(${fmt(x1)}) ≈ ${fmt(pred)}; the true value is ${tv === null ? "undefined" : fmt(tv)}.`;
      Object.assign(self, {x0, value: v, slope: d, prediction: pred, trueValue: tv});
    }
    s.input.addEventListener("input", () => draw(Number(s.input.value)));
    const snap = (u) => Math.min(hi, Math.max(lo, Math.round((u - lo) / step) * step + lo));
    // the plot area runs from PLOT_LEFT to W − PLOT_RIGHT in the drawing's units; the drawing fills the box's width
    pointer(svg, (cx, cy, rect) => draw(snap(lin(rect.left + rect.width * PLOT_LEFT / W,
                                                 rect.left + rect.width * (W - PLOT_RIGHT) / W, lo, hi)(cx))));
    svg.addEventListener("keydown", (e) => {
      const k = {ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10}[e.key];
      if (k) { draw(snap(self.x0 + k * step * 10)); e.preventDefault(); }
      else if (e.key === "Home") { draw(lo); e.preventDefault(); }
      else if (e.key === "End") { draw(hi); e.preventDefault(); }
    });
    self.set = (u) => draw(u);
    draw(data.at);
    return self;
  }

  // ------------------------------------------------------------------ landscape: click the heat map
  const VIRIDIS = [[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [253, 231, 37]];
  function colour(t) {
    if (t === null || !Number.isFinite(t)) return [235, 235, 235];
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), u = t - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * u));
  }

  function Landscape(host, data) {
    const id = `crl${++uid}`, f = data.output, X = data.x, Y = data.y;
    const ev = evaluator(data);
    const box = head(host, data, "landscape");
    const [x0, x1] = data.xrange, [y0, y1] = data.yrange;
    const N = data.grid;
    const row = el("div", {class: "crl-row"}, box);
    const fig = el("figure", {class: "crl-figure crl-heat"}, row);
    const heat = el("div", {class: "crl-heatbox", tabindex: 0, role: "application", "data-role": "heatmap",
                            "aria-roledescription": "heat map", "aria-labelledby": `${id}-alt`,
                            "aria-describedby": `${id}-keys`}, fig);
    const canvas = el("canvas", {width: N, height: N, class: "crl-canvas", "aria-hidden": "true"}, heat);
    const S = 400;
    const over = el("svg:svg", {viewBox: `0 0 ${S} ${S}`, class: "crl-overlay", preserveAspectRatio: "none",
                                "aria-hidden": "true"}, heat);
    const alt = el("figcaption", {id: `${id}-alt`, class: "crl-alt", "aria-live": "polite"}, fig);
    el("p", {id: `${id}-keys`, class: "crl-hint"}, fig,
       `${X} from ${fmt(x0)} (left) to ${fmt(x1)} (right), ${Y} from ${fmt(y0)} (bottom) to ${fmt(y1)} (top). ` +
       "Click or drag on the heat map; with it focused, the arrow keys move the point (Shift: ten times as far).");
    const side = el("div", {class: "crl-side"}, row);
    const sx = slider(side, `${id}-x`, X, x0, x1, (x1 - x0) / 500, data.at[X]);
    const sy = slider(side, `${id}-y`, Y, y0, y1, (y1 - y0) / 500, data.at[Y]);
    const cells = readout(side, [["value", `${f}(${X}, ${Y})`], ["dx", `∂${f}/∂${X}`], ["dy", `∂${f}/∂${Y}`],
                                 ["descent", `after ${data.steps} steps of descent (lr ${fmt(data.lr)})`]]);
    const slices = el("div", {class: "crl-row crl-slices"}, box);
    const mk = (name, held) => {
      const fg = el("figure", {class: "crl-figure crl-slice"}, slices);
      const cap = el("figcaption", {class: "crl-slice-cap"}, fg);
      const sv = el("svg:svg", {viewBox: "0 0 360 230", class: "crl-plot", role: "img", "aria-labelledby": `${id}-${name}-alt`}, fg);
      const a = el("p", {id: `${id}-${name}-alt`, class: "crl-alt", "aria-live": "polite"}, fg);
      return {cap, sv, a, name, held};
    };
    const sl = [mk(X, Y), mk(Y, X)];
    // the heat map, once: every value by the op table in this page
    const gx = sample(x0, x1, N), gy = sample(y0, y1, N);
    const vals = gy.map((v) => gx.map((u) => { const r = ev(Object.assign({}, data.inputs, {[X]: u, [Y]: v})); return r.error ? null : r.value; }));
    const flat = vals.flat().filter((v) => v !== null);
    const vmin = flat.length ? Math.min(...flat) : 0, vmax = flat.length ? Math.max(...flat) : 1;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(N, N);
    vals.forEach((rowv, j) => rowv.forEach((v, i) => {
      const c = colour(v === null ? null : (v - vmin) / (vmax - vmin || 1));
      const k = ((N - 1 - j) * N + i) * 4;
      img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2]; img.data[k + 3] = 255;
    }));
    ctx.putImageData(img, 0, 0);
    let lowest = null;
    vals.forEach((rowv, j) => rowv.forEach((v, i) => { if (v !== null && (lowest === null || v < lowest[0])) lowest = [v, gx[i], gy[j]]; }));
    const hx = lin(x0, x1, 0, S), hy = lin(y0, y1, S, 0);
    const self = {data, el: box, heat};

    function descend(p) {
      const path = [p.slice()];
      let q = p.slice();
      for (let k = 0; k < data.steps; k++) {
        const r = ev(Object.assign({}, data.inputs, {[X]: q[0], [Y]: q[1]}));
        if (r.error) break;
        const n = [q[0] - data.lr * r.grad(X), q[1] - data.lr * r.grad(Y)];
        if (!Number.isFinite(n[0]) || !Number.isFinite(n[1]) || ev(Object.assign({}, data.inputs, {[X]: n[0], [Y]: n[1]})).error) break;
        q = n;
        path.push(q.slice());
      }
      return path;
    }

    function drawSlice(s, at, r) {
      const u0 = at[s.name], lo = s.name === X ? x0 : y0, hi = s.name === X ? x1 : y1;
      const us = sample(lo, hi, 161);
      const vs = us.map((u) => { const q = ev(Object.assign({}, data.inputs, at, {[s.name]: u})); return q.error ? null : q.value; });
      const p = plot(s.sv, 360, 230, [lo, hi], range(vs), s.name, f);
      el("svg:path", {d: pathOf(us, vs, p.sx, p.sy), class: "crl-curve"}, p.layer);
      s.cap.innerHTML = `slice · vary ${esc(s.name)}, ${esc(s.held)} held at <span class="crl-num">${esc(fmt(at[s.held]))}</span>`;
      if (r.error) { s.a.textContent = `${f} is undefined at this point.`; return; }
      const d = r.grad(s.name);
      el("svg:path", {d: `M${p.sx(lo)} ${p.sy(r.value + d * (lo - u0))}L${p.sx(hi)} ${p.sy(r.value + d * (hi - u0))}`, class: "crl-tangent"}, p.layer);
      el("svg:circle", {cx: p.sx(u0), cy: p.sy(r.value), r: 5, class: "crl-point"}, p.layer);
      s.a.innerHTML = `slope of this curve at ${esc(s.name)} = ∂${esc(f)}/∂${esc(s.name)} = <strong class="crl-num" data-key="slice-${esc(s.name)}">${esc(signed(d))}</strong>`;
    }

    function draw(px, py) {
      px = Math.min(x1, Math.max(x0, px)); py = Math.min(y1, Math.max(y0, py));
      const at = {[X]: px, [Y]: py};
      const r = ev(Object.assign({}, data.inputs, at));
      sx.input.value = px; sx.out.textContent = fmt(px);
      sy.input.value = py; sy.out.textContent = fmt(py);
      over.innerHTML = "";
      const path = descend([px, py]);
      el("svg:polyline", {points: path.map((q) => `${hx(q[0]).toFixed(1)},${hy(q[1]).toFixed(1)}`).join(" "), class: "crl-path"}, over);
      for (const q of path.slice(1)) el("svg:circle", {cx: hx(q[0]), cy: hy(q[1]), r: 2.5, class: "crl-path-dot"}, over);
      el("svg:line", {x1: hx(px), x2: hx(px), y1: 0, y2: S, class: "crl-cross"}, over);
      el("svg:line", {y1: hy(py), y2: hy(py), x1: 0, x2: S, class: "crl-cross"}, over);
      el("svg:circle", {cx: hx(px), cy: hy(py), r: 7, class: "crl-point", "data-role": "point"}, over);
      for (const s of sl) drawSlice(s, at, r);
      if (r.error) {
        cells.value.textContent = "undefined"; cells.dx.textContent = cells.dy.textContent = cells.descent.textContent = "—";
        alt.textContent = `${f} is undefined at ${X} = ${fmt(px)}, ${Y} = ${fmt(py)}: ${r.error}.`;
        Object.assign(self, {at, value: null, dx: null, dy: null, path});
        return;
      }
      const dx = r.grad(X), dy = r.grad(Y);
      const len = Math.hypot(dx, dy);
      if (len > 0) {   // the way downhill, −∇f, drawn at a fixed length
        const ux = -dx / len, uy = -dy / len, L = 0.12 * S;
        const ex = hx(px) + ux * L, ey = hy(py) - uy * L;
        el("svg:line", {x1: hx(px), y1: hy(py), x2: ex, y2: ey, class: "crl-arrow"}, over);
        el("svg:circle", {cx: ex, cy: ey, r: 3.5, class: "crl-arrow-head"}, over);
      }
      cells.value.textContent = fmt(r.value);
      cells.dx.textContent = signed(dx);
      cells.dy.textContent = signed(dy);
      const last = path[path.length - 1];
      const lv = ev(Object.assign({}, data.inputs, {[X]: last[0], [Y]: last[1]}));
      cells.descent.textContent = `${f} = ${lv.error ? "undefined" : fmt(lv.value)} at (${fmt(last[0])}, ${fmt(last[1])})`;
      alt.textContent = `Heat map of ${f}(${X}, ${Y}) for ${X} from ${fmt(x0)} to ${fmt(x1)} and ${Y} from ` +
        `${fmt(y0)} to ${fmt(y1)}: lower values dark, higher values bright, from ${fmt(vmin)} to ${fmt(vmax)}` +
        (lowest ? ` (lowest ${fmt(lowest[0])} near ${X} = ${fmt(lowest[1])}, ${Y} = ${fmt(lowest[2])})` : "") +
        `. The point ${X} = ${fmt(px)}, ${Y} = ${fmt(py)}: ${f} = ${fmt(r.value)}, ∂${f}/∂${X} = ${fmt(dx)}, ` +
        `∂${f}/∂${Y} = ${fmt(dy)}; the arrow points downhill, and ${path.length - 1} steps of gradient descent ` +
        `lead to (${fmt(last[0])}, ${fmt(last[1])}).`;
      Object.assign(self, {at, value: r.value, dx, dy, path});
    }
    const cur = () => [Number(sx.input.value), Number(sy.input.value)];
    sx.input.addEventListener("input", () => draw(...cur()));
    sy.input.addEventListener("input", () => draw(...cur()));
    pointer(heat, (cx, cy, rect) => draw(lin(rect.left, rect.right, x0, x1)(cx), lin(rect.bottom, rect.top, y0, y1)(cy)));
    heat.addEventListener("keydown", (e) => {
      const big = e.shiftKey ? 10 : 1, stx = (x1 - x0) / 50 * big, sty = (y1 - y0) / 50 * big;
      const [px, py] = cur();
      const move = {ArrowLeft: [-stx, 0], ArrowRight: [stx, 0], ArrowUp: [0, sty], ArrowDown: [0, -sty]}[e.key];
      if (move) { draw(px + move[0], py + move[1]); e.preventDefault(); }
    });
    self.set = (px, py) => draw(px, py);
    draw(data.at[X], data.at[Y]);
    return self;
  }


  // ------------------------------------------------------------------ vanish: a deep network and a chain
  // The same network as chainrule.lab.vanish.run_network, rebuilt here: the same random numbers (a
  // counter-based hash, bit for bit), every activation and its slope from the op table, and the
  // backward pass a small tape walks in reverse, each elementwise step by its op row's derivative.
  function hash32(x) {
    x = x >>> 0;
    x ^= x >>> 16; x = Math.imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15; x = Math.imul(x, 0x846ca68b) >>> 0;
    x ^= x >>> 16;
    return x >>> 0;
  }
  function uniforms(seed, start, count) {
    const base = hash32(seed), out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = (hash32((base + start + i) % 4294967296) + 0.5) / 4294967296;
    return out;
  }

  function Tape() { this.nodes = []; }
  // an array value: {v: Float64Array, rows, cols}; cols 1 broadcasts along a row
  Tape.prototype.leaf = function (v, rows, cols) { const n = {v, rows, cols, g: null, back: null}; this.nodes.push(n); return n; };
  Tape.prototype.ew = function (name, a, b, k) {
    const op = OPS[name], rows = a.rows, cols = Math.max(a.cols, b ? b.cols : 1);
    const v = new Float64Array(rows * cols);
    const at = (t, r, c) => t.v[r * t.cols + (t.cols === 1 ? 0 : c)];
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) v[r * cols + c] = op.f(at(a, r, c), b ? at(b, r, c) : null, k);
    const n = this.leaf(v, rows, cols);
    n.back = () => {
      for (const [port, t] of [[0, a], [1, b]]) {
        if (!t || !t.needs) continue;
        if (!t.g) t.g = new Float64Array(t.v.length);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          t.g[r * t.cols + (t.cols === 1 ? 0 : c)] += n.g[i] * op.d[port](at(a, r, c), b ? at(b, r, c) : null, k, v[i]);
        }
      }
    };
    n.needs = a.needs || (b && b.needs);
    return n;
  };
  Tape.prototype.mean = function (a) {   // over each row: (rows, cols) -> (rows, 1)
    const v = new Float64Array(a.rows);
    for (let r = 0; r < a.rows; r++) { let s = 0; for (let c = 0; c < a.cols; c++) s += a.v[r * a.cols + c]; v[r] = s / a.cols; }
    const n = this.leaf(v, a.rows, 1);
    n.needs = a.needs;
    n.back = () => {
      if (!a.g) a.g = new Float64Array(a.v.length);
      for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) a.g[r * a.cols + c] += n.g[r] / a.cols;
    };
    return n;
  };
  Tape.prototype.linear = function (h, W, b, width) {   // h Wᵀ + b, W (width, width) row-major
    const rows = h.rows, v = new Float64Array(rows * width);
    for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) {
      let s = 0;
      for (let j = 0; j < width; j++) s += h.v[r * width + j] * W.v[i * width + j];
      v[r * width + i] = s + b.v[i];
    }
    const n = this.leaf(v, rows, width);
    n.needs = true;
    n.back = () => {
      W.g = W.g || new Float64Array(W.v.length);
      b.g = b.g || new Float64Array(b.v.length);
      if (h.needs && !h.g) h.g = new Float64Array(h.v.length);
      for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) {
        const g = n.g[r * width + i];
        b.g[i] += g;
        for (let j = 0; j < width; j++) {
          W.g[i * width + j] += g * h.v[r * width + j];
          if (h.needs) h.g[r * width + j] += g * W.v[i * width + j];
        }
      }
    };
    return n;
  };
  Tape.prototype.backward = function (last, seed) {
    last.g = seed;
    for (let i = this.nodes.length - 1; i >= 0; i--) { const n = this.nodes[i]; if (n.back && n.g) n.back(); }
  };

  function bounds(cfg, gains) {
    const w = cfg.width;
    if (cfg.init === "default") return [1 / Math.sqrt(w), 1 / Math.sqrt(w)];
    if (cfg.init === "xavier") return [Math.sqrt(6 / (w + w)), 0];
    if (cfg.init === "kaiming") return [gains[cfg.act] * Math.sqrt(3 / w), 0];
    return [Math.sqrt(3), 0];
  }

  function network(cfg, consts) {   // -> {grad_norms, activation_rms}
    const d = cfg.depth, w = cfg.width, B = cfg.batch, nw = d * w * w, nb = d * w, nx = B * w;
    const u = uniforms(cfg.seed, 0, nw + nb + nx + w);
    const [wb, bb] = bounds(cfg, consts.gains);
    const T = new Tape();
    const Ws = [], bs = [];
    for (let l = 0; l < d; l++) {
      const Wv = new Float64Array(w * w), bv = new Float64Array(w);
      for (let i = 0; i < w * w; i++) Wv[i] = (2 * u[l * w * w + i] - 1) * wb;
      for (let i = 0; i < w; i++) bv[i] = (2 * u[nw + l * w + i] - 1) * bb;
      Ws.push({v: Wv}); bs.push({v: bv});
    }
    const xv = new Float64Array(nx);
    for (let i = 0; i < nx; i++) xv[i] = (2 * u[nw + nb + i] - 1) * Math.sqrt(3);
    const r = new Float64Array(w);
    for (let i = 0; i < w; i++) r[i] = (2 * u[nw + nb + nx + i] - 1) * Math.sqrt(3 / w);
    let h = T.leaf(xv, B, w);
    h.needs = false;
    const eps = T.leaf(new Float64Array([consts.eps]), 1, 1);
    eps.needs = false;
    const rms = [];
    const epsRows = T.leaf(new Float64Array(B).fill(consts.eps), B, 1);
    epsRows.needs = false;
    for (let l = 0; l < d; l++) {
      let z = T.linear(h, Ws[l], bs[l], w);
      if (cfg.norm) {
        const c = T.ew("sub", z, T.mean(z), null);
        const v = T.mean(T.ew("mul", c, c, null));
        z = T.ew("div", c, T.ew("sqrt", T.ew("add", v, epsRows, null), null, null), null);
      }
      const a = cfg.act === "linear" ? z : T.ew(cfg.act, z, null, cfg.act === "leaky_relu" ? consts.leaky : null);
      h = cfg.residual ? T.ew("add", h, a, null) : a;
      let s = 0;
      for (const t of h.v) s += t * t;
      rms.push(Math.sqrt(s / h.v.length));
    }
    const seed = new Float64Array(B * w);
    for (let b = 0; b < B; b++) for (let i = 0; i < w; i++) seed[b * w + i] = r[i] / B;   // L = mean over the batch of h·r
    T.backward(h, seed);
    const norms = Ws.map((W) => { let s = 0; for (const g of (W.g || [])) s += g * g; return Math.sqrt(s); });
    return {grad_norms: norms, activation_rms: rms};
  }

  function slopeOf(act, z, k) {
    if (act === "linear") return 1;
    const op = OPS[act], out = op.f(z, null, k);
    return op.d[0](z, null, k, out);
  }

  function chain(act, depth, weight, start, k) {   // one neuron per layer, as chainrule.lab.vanish.run_chain
    const z = [], slopes = [], weights = [], factors = [];
    let a = start, prod = 1;
    for (let l = 0; l < depth; l++) {
      const m = OPS.mul.f(a, weight), zi = OPS.add.f(m, 0);
      const ai = act === "linear" ? OPS.add.f(zi, 0) : OPS[act].f(zi, null, k);
      const s = slopeOf(act, zi, k), wl = OPS.mul.d[0](a, weight, null, m) * OPS.add.d[0](m, 0, null, zi);
      z.push(zi); slopes.push(s); weights.push(wl); factors.push(s * wl);
      a = ai;
    }
    for (const f of factors) prod *= f;     // in layer order, as run_chain multiplies them
    let best = -Infinity, at = 0;
    for (let i = 0; i <= 2001; i++) {
      const zz = i === 2001 ? 0 : -10 + 20 * i / 2000, s = slopeOf(act, zz, k);
      if (s > best) { best = s; at = zz; }
    }
    return {z, slopes, weights, factors, product: prod, slope_max: best, slope_max_at: at};
  }

  function logPlot(svg, W, H, series, xlabel, ylabel) {
    const all = series.flatMap((s) => s.ys).filter((v) => v > 0 && Number.isFinite(v));
    let lo = all.length ? Math.floor(Math.log10(Math.min(...all))) : -1, hi = all.length ? Math.ceil(Math.log10(Math.max(...all))) : 1;
    if (hi === lo) hi = lo + 1;
    const n = Math.max(...series.map((s) => s.ys.length), 2);
    const p = plot(svg, W, H, [1, n], [lo, hi], xlabel, ylabel);
    // relabel the y axis as powers of ten
    for (const t of svg.querySelectorAll(".crl-axes text[text-anchor=end]")) {
      const e = Number(t.textContent.replace(MINUS, "-"));
      t.textContent = Number.isInteger(e) ? `1e${e < 0 ? MINUS : ""}${Math.abs(e)}` : "";
    }
    for (const s of series) {
      const xs = s.ys.map((_, i) => i + 1), ys = s.ys.map((v) => (v > 0 && Number.isFinite(v) ? Math.log10(v) : null));
      el("svg:path", {d: pathOf(xs, ys, p.sx, p.sy), class: `crl-series ${s.cls || ""}`, stroke: s.colour,
                      "stroke-dasharray": s.dash || null}, p.layer);
    }
    return p;
  }

  const COLOURS = {sigmoid: "#2f6db5", tanh: "#3c8a5f", relu: "#c2562f", leaky_relu: "#7557b8", linear: "#8a6d1f"};

  function Vanish(host, data) {
    const id = `crl${++uid}`;
    const box = head(host, data, "vanish");
    const consts = {gains: data.gains, eps: data.eps, leaky: data.leaky_slope};
    const cfg = Object.assign({}, data.config);
    const st = {weight: data.weight, start: data.start};
    const controls = el("div", {class: "crl-controls crl-row"}, box);
    const field = (label, control) => { const l = el("label", {class: "crl-field"}, controls, label); l.appendChild(control); return control; };
    const depth = slider(controls, `${id}-depth`, "depth", 1, data.max_depth, 1, cfg.depth);
    const act = field("activation", el("select", {id: `${id}-act`}));
    for (const a of data.acts) el("option", {value: a}, act, a);
    act.value = cfg.act;
    const init = field("initialisation", el("select", {id: `${id}-init`}));
    for (const a of data.inits) el("option", {value: a}, init, a);
    init.value = cfg.init;
    const check = (label, on) => {
      const l = el("label", {class: "crl-check"}, controls);
      const c = el("input", {type: "checkbox"}, l);
      c.checked = on;
      l.appendChild(document.createTextNode(label));
      return c;
    };
    const residual = check("residual connections", cfg.residual), norm = check("layer norm", cfg.norm);
    const wsl = slider(controls, `${id}-w`, "chain w", -2, 2, 0.05, st.weight);
    const row = el("div", {class: "crl-row"}, box);
    const f1 = el("figure", {class: "crl-figure crl-half"}, row);
    el("figcaption", {class: "crl-slice-cap"}, f1, "‖∂L/∂W‖ per layer at initialisation (log scale), one line per activation");
    const s1 = el("svg:svg", {viewBox: "0 0 460 280", class: "crl-plot", role: "img", "aria-labelledby": `${id}-alt1`}, f1);
    const legend = el("p", {class: "crl-legend", "aria-hidden": "true"}, f1);
    for (const a of data.acts) {
      const k = el("span", {class: "crl-key"}, legend);
      el("span", {class: "crl-swatch", style: `background:${COLOURS[a] || "#555"}`}, k);
      k.appendChild(document.createTextNode(a));
    }
    const alt1 = el("p", {id: `${id}-alt1`, class: "crl-alt", "aria-live": "polite"}, f1);
    const f2 = el("figure", {class: "crl-figure crl-half"}, row);
    el("figcaption", {class: "crl-slice-cap"}, f2, "one neuron per layer: the chain's running product (log scale)");
    const s2 = el("svg:svg", {viewBox: "0 0 460 280", class: "crl-plot", role: "img", "aria-labelledby": `${id}-alt2`}, f2);
    const alt2 = el("p", {id: `${id}-alt2`, class: "crl-alt", "aria-live": "polite"}, f2);
    const details = el("details", {class: "crl-table-box"}, box);
    el("summary", {}, details, "The numbers as a table");
    const tableBox = el("div", {class: "crl-scroll"}, details);
    const self = {data, el: box};

    function draw() {
      const c = Object.assign({}, cfg);
      const nets = {};
      for (const a of data.acts) nets[a] = network(Object.assign({}, c, {act: a}), consts);
      const series = data.acts.map((a) => ({ys: nets[a].grad_norms, colour: COLOURS[a] || "#555", cls: a === c.act ? "crl-bold" : "crl-faint"}));
      logPlot(s1, 460, 280, series, "layer (1 = nearest the input)", "log₁₀ ‖∂L/∂W‖");
      const mine = nets[c.act].grad_norms, first = mine[0], last = mine[mine.length - 1];
      const verdict = !mine.every(Number.isFinite) || Math.max(...mine) > data.exploded ? "exploding"
        : Math.max(...mine) < data.vanished || first === 0 ? "vanishing"
        : first / last < 1e-2 ? "vanishing" : first / last > 1e2 ? "exploding" : "healthy";
      alt1.textContent = `${c.act}, ${c.init} init${c.residual ? ", residual" : ""}${c.norm ? ", layer norm" : ""}, ` +
        `${c.depth} layers of ${c.width}: ‖∂L/∂W‖ is ${fmt(first)} at layer 1 and ${fmt(last)} at layer ${c.depth} ` +
        `(${verdict}). Other activations, same settings: ` +
        data.acts.filter((a) => a !== c.act).map((a) => `${a} ${fmt(nets[a].grad_norms[0])} → ${fmt(nets[a].grad_norms[c.depth - 1])}`).join("; ") + ".";
      const ch = chain(c.act, c.depth, st.weight, st.start, consts.leaky);
      let run = 1;
      const running = ch.factors.map((f) => (run *= Math.abs(f)));
      const ser2 = [{ys: running, colour: COLOURS[c.act] || "#555", cls: "crl-bold"}];
      if (ch.slope_max < 1) ser2.push({ys: running.map((_, i) => Math.pow(ch.slope_max, i + 1)), colour: "#888", dash: "6 4"});
      logPlot(s2, 460, 280, ser2, "factors multiplied", "log₁₀ |product|");
      const shown = ch.factors.length <= 6 ? ch.factors.map((f) => fmt(f)).join(" · ")
        : ch.factors.slice(0, 3).map((f) => fmt(f)).join(" · ") + " · … · " + ch.factors.slice(-2).map((f) => fmt(f)).join(" · ");
      alt2.textContent = `zₗ = ${fmt(st.weight)}·aₗ₋₁, aₗ = ${c.act}(zₗ), a₀ = ${fmt(st.start)}: ∂a/∂a₀ = ${shown} = ${fmt(ch.product)}. ` +
        (ch.slope_max < 1 ? `${c.act}′ ≤ ${fmt(ch.slope_max)}, so the ${c.depth} slopes multiply to at most ${fmt(Math.pow(ch.slope_max, c.depth))} (dashed).`
                          : `${c.act}′ ≤ ${fmt(ch.slope_max)}: the weights decide.`);
      const rows = mine.map((g, i) => `<tr><td>${i + 1}</td><td>${esc(fmt(g))}</td><td>${esc(fmt(ch.factors[i]))}</td><td>${esc(fmt(ch.slopes[i]))}</td></tr>`).join("");
      tableBox.innerHTML = `<table class="crl-table"><thead><tr><th scope="col">layer</th><th scope="col">‖∂L/∂W‖ (${esc(c.act)})</th>` +
        `<th scope="col">chain factor</th><th scope="col">${esc(c.act)}′(z)</th></tr></thead><tbody>${rows}</tbody></table>`;
      Object.assign(self, {config: c, grad_norms: mine, verdict, chain: ch, nets});
    }
    const update = () => {
      cfg.depth = Number(depth.input.value); depth.out.textContent = String(cfg.depth);
      cfg.act = act.value; cfg.init = init.value; cfg.residual = residual.checked; cfg.norm = norm.checked;
      st.weight = Number(wsl.input.value); wsl.out.textContent = fmt(st.weight);
      draw();
    };
    for (const c of [depth.input, wsl.input]) c.addEventListener("input", update);
    for (const c of [act, init, residual, norm]) c.addEventListener("change", update);
    self.update = update;
    update();
    return self;
  }

  // ------------------------------------------------------------------ modes: forward vs reverse
  // The engine's measurements (made in Python, passed in) drawn against n; and, in this page, one
  // program's gradient both ways: forward mode carries a tangent through the recorded graph, one
  // pass per input (each op's tangent by its op row's derivatives), reverse mode is the player's
  // evaluator, one forward pass and one backward sweep. Both count the primitives they evaluate.
  function forwardMode(data, values) {
    const nodes = data.trace.nodes, inputs = nodes.filter((n) => n.kind === "input");
    const leaf = (n) => (n.kind === "input" && n.label in values ? values[n.label] : n.value);
    const grads = {};
    let evals = 0;
    for (const seed of inputs) {
      const v = new Array(nodes.length), t = new Array(nodes.length).fill(0);
      for (const n of nodes) {
        if (!n.op) { v[n.id] = leaf(n); t[n.id] = n.id === seed.id ? 1 : 0; continue; }
        const op = OPS[n.op], x = v[n.inputs[0]], y = n.inputs.length > 1 ? v[n.inputs[1]] : null;
        v[n.id] = op.f(x, y, n.param);
        let s = 0;
        n.inputs.forEach((i, port) => { if (t[i] !== 0) s += op.d[port](x, y, n.param, v[n.id]) * t[i]; });
        t[n.id] = s;
        evals++;
      }
      grads[seed.label] = t[data.trace.output];
    }
    return {grads, passes: inputs.length, evals};
  }

  function reverseMode(data, values) {
    const G = P.makeGraph({trace: data.trace, links: [], exprs: null});
    const S = P.computeState(G, {domains: data.domains || {}}, (n) => (n.kind === "input" && n.label in values ? values[n.label] : n.value));
    const grads = {};
    let ops = 0, swept = 0;
    for (const n of G.nodes) {
      if (n.kind === "input") grads[n.label] = S.grad[n.id] === null ? 0 : S.grad[n.id];
      if (n.op) { ops++; if (S.grad && S.grad[n.id] !== null) swept++; }
    }
    return {grads, passes: 1, evals: ops + swept};
  }

  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  function Modes(host, data) {
    const id = `crl${++uid}`;
    const box = head(host, data, "modes");
    const row = el("div", {class: "crl-row"}, box);
    const cases = [["rows", "n inputs → 1 output: " + data.measured.functions.rows],
                   ["one_to_many", "1 input → n outputs: " + data.measured.functions.one_to_many]];
    for (const [key, title] of cases) {
      const fig = el("figure", {class: "crl-figure crl-half"}, row);
      el("figcaption", {class: "crl-slice-cap"}, fig, title + " (seconds, log scale)");
      const sv = el("svg:svg", {viewBox: "0 0 460 280", class: "crl-plot", role: "img", "aria-labelledby": `${id}-${key}`}, fig);
      const rs = data.measured[key];
      const ns = rs.map((r) => r.n);
      const lx = ns.map((n) => Math.log10(n));
      const ys = rs.flatMap((r) => [r.forward_seconds, r.reverse_seconds]).map((v) => Math.log10(v));
      const p = plot(sv, 460, 280, [Math.min(...lx), Math.max(...lx) || 1], range(ys), "log₁₀ n", "log₁₀ seconds");
      el("svg:path", {d: pathOf(lx, rs.map((r) => Math.log10(r.forward_seconds)), p.sx, p.sy), class: "crl-series crl-bold", stroke: COLOURS.sigmoid}, p.layer);
      el("svg:path", {d: pathOf(lx, rs.map((r) => Math.log10(r.reverse_seconds)), p.sx, p.sy), class: "crl-series crl-bold", stroke: COLOURS.relu, "stroke-dasharray": "7 4"}, p.layer);
      const legend = el("p", {class: "crl-legend", "aria-hidden": "true"}, fig);
      for (const [name, c] of [["forward mode", COLOURS.sigmoid], ["reverse mode (dashed)", COLOURS.relu]]) {
        const k = el("span", {class: "crl-key"}, legend);
        el("span", {class: "crl-swatch", style: `background:${c}`}, k);
        k.appendChild(document.createTextNode(name));
      }
      const last = rs[rs.length - 1];
      el("p", {id: `${id}-${key}`, class: "crl-alt"}, fig,
         `Measured by chainrule's engine: at n = ${last.n}, forward mode took ${plural(last.forward_passes, "pass", "passes")} ` +
         `(${fmt(last.forward_seconds * 1e3, 3)} ms) and reverse mode ${plural(last.reverse_passes, "backward sweep", "backward sweeps")} ` +
         `(${fmt(last.reverse_seconds * 1e3, 3)} ms). ` + rs.map((r) => `n = ${r.n}: forward ${fmt(r.forward_seconds * 1e3, 3)} ms, ` +
         `reverse ${fmt(r.reverse_seconds * 1e3, 3)} ms`).join("; ") + ".");
    }
    // in this page: one program, both ways
    el("h3", {class: "crl-slice-cap"}, box, `In this page: the gradient of ${data.output}, both ways`);
    const run = el("button", {class: "crl-btn", type: "button"}, box, "Compute both ways");
    const out = el("div", {class: "crl-scroll", "aria-live": "polite"}, box);
    const self = {data, el: box};
    function compute() {
      const f = forwardMode(data, data.inputs), r = reverseMode(data, data.inputs);
      const names = Object.keys(r.grads);
      const rows = names.map((n) => `<tr><td>${esc(n)}</td><td>${esc(fmt(f.grads[n]))}</td><td>${esc(fmt(r.grads[n]))}</td></tr>`).join("");
      out.innerHTML = `<table class="crl-table"><thead><tr><th scope="col">input</th><th scope="col">∂${esc(data.output)} by forward mode</th>` +
        `<th scope="col">by reverse mode</th></tr></thead><tbody>${rows}</tbody></table>` +
        `<p data-key="modes-summary">forward mode: <strong>${f.passes}</strong> passes, ${f.evals} primitive evaluations; ` +
        `reverse mode: <strong>${r.passes}</strong> backward sweep, ${r.evals} primitive evaluations (each op once forward, once back).</p>`;
      Object.assign(self, {forward: f, reverse: r});
    }
    run.addEventListener("click", compute);
    compute();
    return self;
  }

  // ------------------------------------------------------------------ registry
  const KINDS = {slope: Slope, landscape: Landscape, vanish: Vanish, modes: Modes};
  const mounted = [];

  function mount(host, data) {
    const make = KINDS[data.kind];
    if (!make) throw new Error(`chainrule lab: no component called ${data.kind}`);
    if (data.digits) DIGITS = data.digits;
    host.innerHTML = "";
    const c = make(host, data);
    host._chainruleLab = c;
    mounted.push(c);
    return c;
  }

  function mountAll(scope) {
    const found = (scope || document).querySelectorAll("[data-chainrule-lab]");
    const out = [];
    for (const host of found) {
      if (host._chainruleLab) continue;
      const script = host.querySelector('script[type="application/json"]');
      if (!script) continue;
      try {
        out.push(mount(host, JSON.parse(script.textContent)));
      } catch (err) {
        host.textContent = `This experiment could not start: ${err.message}`;
      }
    }
    return out;
  }

  root.ChainruleLab = {mount, mountAll, mounted, evaluator, KINDS, uniforms, network, chain, forwardMode, reverseMode, helpers: {el, plot, pathOf, range, sample, slider, readout, head, pointer, ticks, lin, colour}};
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mountAll());
    else mountAll();
  }
})(typeof window !== "undefined" ? window : globalThis);
