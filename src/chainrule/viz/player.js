/* chainrule player: steps a recorded trace forward and backward.
 *
 * Reads the data made by chainrule.viz.html.player_data():
 *   trace        the recorded forward and backward pass (nodes, backward steps)
 *   layout       box positions computed in Python (layered, left to right)
 *   explanation  the chains from chainrule.explain (which factors, which labels)
 *   links, mode  which nodes a chain stops at ("names": named variables)
 * When an input slider moves, values and local derivatives are recomputed with
 * OPS, which is generated from chainrule's op table and prepended to this file:
 * nothing here knows a derivative.
 *
 *   ChainrulePlayer.mount(element, data) -> player
 */
(function (root) {
  "use strict";

  // ------------------------------------------------------------------ text
  const MINUS = "\u2212";
  const SUBSCRIPT = "₀₁₂₃₄₅₆₇₈₉";

  // chainrule.numfmt's policy, the same algorithm (the tests compare the two on a table of numbers):
  // `digits` significant digits (default: the page's, from Python's --digits / set_printoptions),
  // scientific exactly when Python's %g uses it, exact ties away from zero, a real minus sign.
  let DIGITS = 6;
  function fmt(v, digits) {
    if (v === null || v === undefined) return "?";
    if (typeof v !== "number") return Array.isArray(v) ? "[…]" : String(v);
    if (Number.isNaN(v)) return "nan";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : MINUS + "inf";
    if (v === 0) return "0";
    const p = Math.min(Math.max(Math.round(digits || DIGITS), 1), 17);
    const [m, ex] = Math.abs(v).toExponential(p - 1).split("e");
    const ds = m.replace(".", ""), e = Number(ex), sign = v < 0 ? MINUS : "";
    if (e < -4 || e >= p) {
      const frac = ds.slice(1).replace(/0+$/, "");
      return sign + ds[0] + (frac ? "." + frac : "") + "e" + (e < 0 ? MINUS : "") + Math.abs(e);
    }
    const frac = (e >= 0 ? ds.slice(e + 1) : "0".repeat(-e - 1) + ds).replace(/0+$/, "");
    return sign + (e >= 0 ? ds.slice(0, e + 1) : "0") + (frac ? "." + frac : "");
  }
  const fmt6 = (v) => fmt(v);

  function pretty(label) {
    // a3 -> a₃, w_1 -> w₁ (as the explainer writes them)
    const m = /^(.*?[^\d_])_?(\d+)$/.exec(label);
    return m ? m[1] + m[2].replace(/\d/g, (d) => SUBSCRIPT[d]) : label;
  }
  // A node as the learner knows it (set by makeGraph): its name, its number, or, for a step
  // the program did not name, its expression (w1 · x, never a made-up label like mul6).
  //   n.shown  as written in a box: "w1 · x"      n.title  the box's first line: "z1 = w1 · x + b1"
  //   nm(n)    in ∂ notation: "w₁", "(w1 · x)"
  const nm = (n) => (n.dname !== undefined ? n.dname : n.name ? pretty(n.label) : n.label);

  function oneTerm(s) {
    // an identifier, a number, or one call such as σ(z1): needs no brackets after ∂
    if (/^[\p{L}\p{N}_.]+$/u.test(s)) return true;
    const m = /^[\p{L}_][\p{L}\p{N}_]*\(/u.exec(s);
    if (!m || !s.endsWith(")")) return false;
    let depth = 0;
    for (let i = m[0].length - 1; i < s.length; i++) {
      if (s[i] === "(") depth++;
      else if (s[i] === ")" && --depth === 0) return i === s.length - 1;
    }
    return false;
  }

  function nameNodes(nodes, exprs) {
    for (const n of nodes) {
      const expr = (exprs && exprs[n.id]) || n.expr || n.op || n.label;
      n.shown = n.op && !n.name ? expr : n.label;
      n.title = n.op ? (n.name ? (expr !== n.label ? `${n.label} = ${expr}` : n.label) : expr)
                     : (n.kind === "const" && n.name ? `${n.label} (constant)` : n.label);
      n.dname = n.name ? pretty(n.label) : (!n.op || oneTerm(n.shown) ? n.shown : `(${n.shown})`);
    }
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  const isNum = (v) => typeof v === "number";
  // a product for people: only when both sides are numbers (tensor traces record descriptions)
  const times = (a, b) => (isNum(a) && isNum(b) ? fmt6(a * b) : "—");

  // ------------------------------------------------------------------ the graph, its numbers
  // Structure (never changes): nodes, who consumes whom, which nodes are links.
  function makeGraph(data) {
    const nodes = data.trace.nodes;
    nameNodes(nodes, data.exprs);
    const consumers = nodes.map(() => []);
    nodes.forEach((n) => n.inputs.forEach((i, port) => consumers[i].push([n.id, port])));
    const needsGrad = nodes.map((n) => n.kind !== "const");
    let links = data.links && data.links.length ? data.links : null;
    if (!links) {  // no explanation (no backward pass): stop at named variables
      const named = nodes.filter((n) => n.op && n.name && n.id !== data.trace.output);
      links = nodes.filter((n) => n.kind === "input" || n.id === data.trace.output ||
                                  (named.length ? n.name : n.op)).map((n) => n.id);
    }
    return {nodes, consumers, needsGrad, isLink: new Set(links), output: data.trace.output,
            hasGrads: data.trace.backward.length > 0, byLabel: new Map(nodes.map((n) => [n.label, n.id]))};
  }

  // The numbers as recorded by chainrule's engine (Python): the page starts with these.
  function recordedState(G, trace) {
    const value = G.nodes.map((n) => n.value);
    const grad = G.nodes.map((n) => n.grad);
    const local = G.nodes.map((n) => n.inputs.map(() => null));
    for (const step of trace.backward) {
      const n = G.nodes[step.node];
      const pending = step.locals.slice();
      n.inputs.forEach((i, port) => {
        const j = pending.findIndex((ls) => ls.input === i);
        if (j >= 0) local[n.id][port] = pending.splice(j, 1)[0].local;
      });
    }
    return {value, grad, local, source: "recorded by chainrule (Python)"};
  }

  // Recompute every value and local derivative with the op table's JS, then the
  // backward sweep in the engine's order (newest node first), so sums add up alike.
  function computeState(G, data, leafValue) {
    const N = G.nodes.length;
    const value = new Array(N), local = new Array(N);
    for (const n of G.nodes) {
      if (!n.op) { value[n.id] = leafValue(n); continue; }
      const op = OPS[n.op];
      const x = value[n.inputs[0]], y = n.inputs.length > 1 ? value[n.inputs[1]] : null;
      const v = op.f(x, y, n.param);
      if (!Number.isFinite(v)) {
        const args = n.inputs.map((i) => fmt(value[i])).concat(op.param ? [fmt(n.param)] : []);
        const why = data.domains[n.op] || "the result is not a finite number";
        return {error: `${op.called}(${args.join(", ")}) is undefined at ${n.label}: ${why}`};
      }
      value[n.id] = v;
    }
    let grad = null;
    if (G.hasGrads) {
      grad = new Array(N).fill(null);
      grad[G.output] = 1;
      for (let i = N - 1; i >= 0; i--) {
        const n = G.nodes[i];
        if (!G.needsGrad[i] || grad[i] === null) continue;
        if (!n.op) continue;
        const op = OPS[n.op];
        const x = value[n.inputs[0]], y = n.inputs.length > 1 ? value[n.inputs[1]] : null;
        local[i] = n.inputs.map((j, port) => G.needsGrad[j] ? op.d[port](x, y, n.param, value[i]) : null);
        n.inputs.forEach((j, port) => {
          if (!G.needsGrad[j]) return;
          const c = grad[i] * local[i][port];
          grad[j] = grad[j] === null ? c : grad[j] + c;
        });
      }
    }
    for (let i = 0; i < N; i++) if (!local[i]) local[i] = G.nodes[i].inputs.map(() => null);
    return {value, grad, local, source: "recomputed in this page from the op table"};
  }

  // A chain factor ∂top/∂bottom: the sum over the ways through unnamed steps of
  // products of local derivatives, exactly as chainrule.explain folds them.
  function foldLink(G, S, mode, top) {
    const out = [];
    const n = G.nodes[top];
    if (!n.op) return out;
    if (mode === "ops") {
      const seen = new Map();
      n.inputs.forEach((v, port) => {
        if (!G.needsGrad[v]) return;
        const slot = seen.get(v) || 0;
        seen.set(v, slot + 1);
        out.push({bottom: v, slot, value: S.local[top][port], edges: [[top, port]], through: []});
      });
      return out;
    }
    const acc = new Map([[top, 1]]);
    const found = new Map();
    const edges = [], through = [];
    for (let u = top; u >= 0; u--) {
      if (!acc.has(u)) continue;
      if (u !== top) through.push(u);
      const nu = G.nodes[u];
      nu.inputs.forEach((v, port) => {
        if (!G.needsGrad[v]) return;
        const val = acc.get(u) * S.local[u][port];
        edges.push([u, port]);
        if (G.isLink.has(v)) found.set(v, found.has(v) ? found.get(v) + val : val);
        else acc.set(v, acc.has(v) ? acc.get(v) + val : val);
      });
    }
    for (const [v, value] of found) out.push({bottom: v, slot: 0, value, edges, through});
    return out;
  }

  // Every link's factors at the local derivatives in S: top -> [{bottom, slot, value, ...}].
  function foldAll(G, S, mode) {
    const folds = new Map();
    if (!G.hasGrads) return folds;
    for (const n of G.nodes) if (n.op && G.isLink.has(n.id)) folds.set(n.id, foldLink(G, S, mode, n.id));
    return folds;
  }

  // A chain's numbers, read off the folds: an explanation factor's value now (the recorded one
  // if the page has not folded that link), a path's product, the sum over the paths.
  function factorValue(folds, f) {
    const fs = folds.get(f.node) || [];
    const hit = fs.find((e) => e.bottom === f.input && e.slot === (f.slot || 0));
    return hit ? hit.value : f.value;
  }

  function pathProduct(folds, p) {
    let prod = 1;
    for (const f of p.factors) {
      const v = factorValue(folds, f);
      if (!isNum(v)) return null;      // a tensor factor is a description, not a number
      prod *= v;
    }
    return prod;
  }

  function chainTotal(folds, S, cs) {
    if (cs.summarised) return S.grad[cs.node];
    let total = 0;
    for (const p of cs.paths) {
      const v = pathProduct(folds, p);
      if (v === null) return null;
      total += v;
    }
    return total;
  }

  // ------------------------------------------------------------------ steps
  function buildSteps(G) {
    const steps = [{kind: "setup"}];
    const fwdAt = new Array(G.nodes.length).fill(0), bwdAt = new Map();
    let pending = [];
    for (const n of G.nodes) {
      if (!n.op) continue;
      pending.push(n.id);
      if (G.isLink.has(n.id)) {
        for (const i of pending) fwdAt[i] = steps.length;
        steps.push({kind: "forward", node: n.id, computes: pending});
        pending = [];
      }
    }
    if (G.hasGrads) {
      const tops = G.nodes.filter((n) => n.op && G.isLink.has(n.id)).map((n) => n.id).reverse();
      for (const u of tops) { bwdAt.set(u, steps.length); steps.push({kind: "backward", node: u}); }
      steps.push({kind: "result"});
      steps.push({kind: "summary"});
    }
    return {steps, fwdAt, bwdAt};
  }

  // ------------------------------------------------------------------ the player
  const HEADER = 26;         // title bar of an expanded group
  const PARAM_HINT = "ticked inputs are updated by the gradient-descent step";

  function Player(el, data, options) {
    this.el = el;
    this.data = data;
    // controls: false leaves out the sliders and the gradient-descent panel, for a page that
    // has its own inputs (chainrule serve): one set of inputs, never two that disagree
    this.controls = !options || options.controls !== false;
    // keys: "focus" acts on keys only while the player holds the focus (a page of several components)
    this.focusKeys = !!options && options.keys === "focus";
    // kernel: a notebook widget's Python side. While kernel.live() is true, a new set of inputs
    // goes to kernel.compute({label: value}) and the Python engine's trace comes back through
    // useTrace(); otherwise this page recomputes with the op table's JS. onStep(k): the step shown.
    this.kernel = options && options.kernel ? options.kernel : null;
    this.onStep = options && options.onStep ? options.onStep : null;
    this.G = makeGraph(data);
    this.S = recordedState(this.G, data.trace);
    this.initial = this.G.nodes.map((n) => n.value);
    this.leaf = this.initial.slice();
    const {steps, fwdAt, bwdAt} = buildSteps(this.G);
    this.steps = steps; this.fwdAt = fwdAt; this.bwdAt = bwdAt;
    this.k = 0;
    this.selected = null;
    this.expanded = new Set();
    this.params = new Set(data.params || []);
    this.history = [];
    this.scale = null;
    this.chains = data.explanation ? data.explanation.chains : [];
    this.wrt = data.wrt;
    this.groupOf = new Map();
    for (const [key, g] of Object.entries(data.layout.groups || {})) for (const m of g.members) this.groupOf.set(m, key);
    this.refold();
    this.build();
    this.render();
  }

  Player.prototype.refold = function () {
    // every link's factors (and what they touch), from the current local derivatives
    const G = this.G;
    this.folds = foldAll(G, this.S, this.data.mode);
    this.reachedBy = G.nodes.map(() => []);   // node -> link tops whose factors reach it
    for (const [top, f] of this.folds) {
      const touched = new Set();
      for (const e of f) { touched.add(e.bottom); for (const t of e.through) touched.add(t); }
      for (const t of touched) this.reachedBy[t].push(top);
    }
  };

  Player.prototype.factorValue = function (f) { return factorValue(this.folds, f); };

  // ---------------------------------------------------------------- DOM skeleton
  Player.prototype.build = function () {
    const d = this.data;
    const inputs = this.G.nodes.filter((n) => n.kind === "input");
    this.el.classList.add("crp");
    this.el.innerHTML = `
      <header class="crp-head">
        <h1 class="crp-title">${esc(d.title)}</h1>
        ${d.intro ? `<p class="crp-intro">${esc(d.intro)}</p>` : ""}
        ${d.program ? `<pre class="crp-program" aria-label="program">${esc(d.program)}</pre>` : ""}
      </header>
      <section class="crp-stage" aria-label="step through the forward and backward pass">
        <div class="crp-toolbar" role="toolbar" aria-label="steps">
          <button type="button" class="crp-btn" data-act="first" aria-label="Start: the first step">Start</button>
          <button type="button" class="crp-btn" data-act="prev" aria-label="Back: the previous step">◂ Back</button>
          <button type="button" class="crp-btn crp-primary" data-act="next" aria-label="Step: the next step">Step ▸</button>
          <button type="button" class="crp-btn" data-act="last" aria-label="End: the last step">End</button>
          <span class="crp-counter" aria-live="polite"></span>
          <span class="crp-phase"></span>
          <span class="crp-zoom">
            <button type="button" class="crp-btn crp-small" data-act="zoom-out" aria-label="zoom out">−</button>
            <button type="button" class="crp-btn crp-small" data-act="zoom-fit" aria-label="fit the graph">Fit</button>
            <button type="button" class="crp-btn crp-small" data-act="zoom-in" aria-label="zoom in">+</button>
          </span>
        </div>
        <div class="crp-narration" aria-live="polite"></div>
        <div class="crp-graph" tabindex="-1"><svg class="crp-svg" role="group" aria-label="computational graph"></svg></div>
        <p class="crp-legend">Keys: Space or → next step, ← back. Click a box (or Tab to it, then Enter) to inspect it.
          After the backward pass, line width and the bar under a box show the size of the gradient
          (blue: negative, orange: positive); “×n” on an edge is its local derivative.</p>
      </section>
      <div class="crp-panels">
        <section class="crp-card crp-chain" aria-label="the chain rule for one input"></section>
        <section class="crp-card crp-node" aria-label="the selected node" aria-live="polite">
          <h2>Inspect a node</h2><p class="crp-muted">Click any box in the graph.</p></section>
      </div>
      ${this.controls ? `<div class="crp-panels">
        <section class="crp-card crp-inputs" aria-label="inputs">
          <h2>Inputs</h2>
          ${d.recompute ? `<p class="crp-muted">Move a slider: the whole trace is recomputed in this page. ${this.G.hasGrads ? "Ticked inputs are the parameters the gradient-descent step updates." : ""}</p>`
                        : `<p class="crp-muted">This trace holds arrays: the page shows it as recorded.</p>`}
          <div class="crp-error" role="alert" hidden></div>
          <div class="crp-sliders ${inputs.length > 12 ? "is-long" : ""}">${d.recompute ? inputs.map((n) => this.sliderRow(n)).join("") : ""}</div>
          ${d.recompute ? `<button type="button" class="crp-btn" data-act="reset">Reset inputs</button>` : ""}
        </section>
        ${d.recompute && this.G.hasGrads ? `
        <section class="crp-card crp-descent" aria-label="gradient descent">
          <h2>Gradient descent</h2>
          <p class="crp-muted">Each step moves every ticked parameter against its gradient: p ← p − η · ∂${esc(nm(this.G.nodes[this.G.output]))}/∂p.</p>
          <div class="crp-row">
            <label>learning rate η <input type="number" class="crp-lr" step="any" min="0" value="${esc(d.lr)}"></label>
            <button type="button" class="crp-btn crp-primary" data-act="descend">Gradient-descent step</button>
          </div>
          <div class="crp-loss"></div>
        </section>` : ""}
      </div>` : ""}`;
    this.q = (s) => this.el.querySelector(s);
    this.svg = this.q(".crp-svg");
    this.handlers = {click: (e) => this.onClick(e), input: (e) => this.onInput(e), change: (e) => this.onInput(e)};
    for (const [type, fn] of Object.entries(this.handlers)) this.el.addEventListener(type, fn);
    this.svg.addEventListener("keydown", (e) => {
      const g = e.target.closest && e.target.closest("[data-key]");
      if (g && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); e.stopPropagation(); this.activate(g.dataset.key); }
    });
    this.onKey = (e) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      const t = e.target;
      if (t && t.closest && t.closest("input, select, textarea, button, [data-key]")) return;
      if (t && t !== document.body && !this.el.contains(t) && t !== document.documentElement) return;
      if (this.focusKeys && !(t && this.el.contains(t))) return;
      const acts = {" ": "next", "ArrowRight": "next", "ArrowLeft": "prev", "Home": "first", "End": "last"};
      if (acts[e.key]) { e.preventDefault(); this.act(acts[e.key]); }
    };
    this.el.ownerDocument.addEventListener("keydown", this.onKey);
    this.onResize = () => { if (this.scale === "fit") this.renderGraph(); };   // Fit keeps fitting
    window.addEventListener("resize", this.onResize);
    this.pushLoss();
  };

  Player.prototype.sliderRow = function (n) {
    const v = n.value;
    const span = Math.max(2, 2 * Math.abs(v));
    const lo = +(v - span).toPrecision(3), hi = +(v + span).toPrecision(3);
    const id = `crp-in-${n.id}`;
    const learn = this.G.hasGrads
      ? `<label class="crp-learn" title="${PARAM_HINT}"><input type="checkbox" data-param="${n.id}" ${this.params.has(n.label) ? "checked" : ""} aria-label="learn ${esc(n.label)}"><span class="crp-learn-word"> learn</span></label>` : "";
    return `<div class="crp-slider">
      <label for="${id}" class="crp-in-name">${esc(n.label)}</label>
      <input type="range" id="${id}" data-leaf="${n.id}" min="${lo}" max="${hi}" step="${(hi - lo) / 400}" value="${v}" aria-label="${esc(n.label)}">
      <input type="number" data-leaf-num="${n.id}" step="any" value="${v}" aria-label="${esc(n.label)} value">
      ${learn}
    </div>`;
  };

  // ---------------------------------------------------------------- events
  Player.prototype.onClick = function (e) {
    const b = e.target.closest("[data-act]");
    if (b && this.el.contains(b)) { this.act(b.dataset.act); return; }
    const g = e.target.closest("[data-key]");
    if (g && this.svg.contains(g)) { this.activate(g.dataset.key); return; }
    const c = e.target.closest("[data-select]");
    if (c) this.select(Number(c.dataset.select));
  };

  Player.prototype.act = function (a) {
    const last = this.steps.length - 1;
    if (a === "next") this.go(Math.min(last, this.k + 1));
    else if (a === "prev") this.go(Math.max(0, this.k - 1));
    else if (a === "first") this.go(0);
    else if (a === "last") this.go(last);
    else if (a === "zoom-in") { this.scale = this.currentScale() * 1.25; this.render(); }
    else if (a === "zoom-out") { this.scale = this.currentScale() / 1.25; this.render(); }
    else if (a === "zoom-fit") { this.scale = "fit"; this.render(); this.q(".crp-graph").scrollTo({left: 0, top: 0}); }
    else if (a === "reset") this.setLeaves(this.initial.slice(), true);
    else if (a === "descend") this.descend();
  };

  Player.prototype.go = function (k) {
    this.k = Math.max(0, Math.min(this.steps.length - 1, k));
    this.render();
    this.scrollToStep();
    if (this.onStep) this.onStep(this.k);
  };

  Player.prototype.activate = function (key) {
    if (/^g\d+$/.test(key)) {   // a box of several steps opens (and its result is inspected), or closes
      if (this.expanded.has(key)) { this.expanded.delete(key); this.render(); return; }
      this.expanded.add(key);
      this.select(this.data.layout.groups[key].root);
      return;
    }
    this.select(Number(key));
  };

  Player.prototype.select = function (id) {
    this.selected = id;
    const n = this.G.nodes[id];
    if (this.chainFor(n.label)) this.wrt = n.label;
    const gk = this.groupOf.get(id);
    if (gk !== undefined && !this.expanded.has(gk) && this.data.layout.groups[gk].root !== id) this.expanded.add(gk);
    this.render();
    // One column (a phone): the panel sits right under the graph (CSS); bring it into view.
    const panel = this.q(".crp-node"), r = panel.getBoundingClientRect();
    if (panel.offsetParent && window.matchMedia && window.matchMedia("(max-width: 820px)").matches &&
        (r.top > window.innerHeight - 80 || r.bottom < 0)) {
      panel.scrollIntoView({block: "start", behavior: "smooth"});
    }
  };

  Player.prototype.onInput = function (e) {
    const t = e.target;
    if (t.dataset.leaf !== undefined || t.dataset.leafNum !== undefined) {
      const id = Number(t.dataset.leaf !== undefined ? t.dataset.leaf : t.dataset.leafNum);
      const v = parseFloat(t.value);
      if (!Number.isFinite(v)) return;
      if (e.type === "change" && t.dataset.leafNum !== undefined) this.widen(id, v);
      // "change" after "input" (the field loses focus to a click on a box): nothing new, so no redraw
      // (a redraw between the press and the release would swallow that click)
      if (e.type === "change" && v === this.leaf[id]) return;
      const leaf = this.leaf.slice();
      leaf[id] = v;
      this.setLeaves(leaf, true);
    } else if (t.dataset.param !== undefined) {
      const n = this.G.nodes[Number(t.dataset.param)];
      if (t.checked) this.params.add(n.label); else this.params.delete(n.label);
    } else if (t.classList.contains("crp-chain-wrt")) {
      this.wrt = t.value;
      this.renderChain();
    }
  };

  Player.prototype.widen = function (id, v) {
    const r = this.q(`input[data-leaf="${id}"]`);
    if (!r) return;
    if (v < +r.min) r.min = v;
    if (v > +r.max) r.max = v;
  };

  Player.prototype.setLeaves = function (leaf, resetHistory) {
    if (this.kernel && this.kernel.live()) {
      this.pending = {leaf, resetHistory};
      const values = {};
      for (const n of this.G.nodes) if (n.kind === "input") values[n.label] = leaf[n.id];
      this.kernel.compute(values);
      return true;
    }
    return this.applyState(computeState(this.G, this.data, (n) => leaf[n.id]), leaf, resetHistory);
  };

  // A trace computed elsewhere (the Python engine, in a notebook's kernel) for the same graph.
  Player.prototype.useTrace = function (trace, error) {
    const p = this.pending || {leaf: null, resetHistory: false};
    this.pending = null;
    if (error) return this.applyState({error}, p.leaf, p.resetHistory);
    trace = revive({trace}).trace;
    if (trace.nodes.length !== this.G.nodes.length) return false;    // another graph: not this player's
    const S = recordedState(this.G, trace);          // its local derivatives, from trace.backward
    S.value = trace.nodes.map((n) => n.value);
    S.grad = trace.nodes.map((n) => n.grad);
    S.source = "computed by chainrule (Python) in the notebook's kernel";
    const leaf = this.G.nodes.map((n, i) => (n.op ? this.leaf[i] : trace.nodes[i].value));
    return this.applyState(S, leaf, p.resetHistory);
  };

  Player.prototype.applyState = function (S, leaf, resetHistory) {
    const box = this.q(".crp-error");
    if (S.error) {
      if (box) { box.hidden = false; box.textContent = S.error + ". Showing the last inputs that worked."; }
      return false;
    }
    if (box) box.hidden = true;
    this.leaf = leaf;
    this.S = S;
    this.el.dataset.source = S.source || "";
    this.refold();
    for (const n of this.G.nodes) {
      if (n.kind !== "input") continue;
      const r = this.q(`input[data-leaf="${n.id}"]`), num = this.q(`input[data-leaf-num="${n.id}"]`);
      if (r && document.activeElement !== r) { this.widen(n.id, leaf[n.id]); r.value = leaf[n.id]; }
      if (num && document.activeElement !== num) num.value = +leaf[n.id].toPrecision(8);
    }
    if (resetHistory) this.history = [];
    this.pushLoss();
    this.render();
    return true;
  };

  Player.prototype.descend = function () {
    const lrBox = this.q(".crp-lr");
    const lr = parseFloat(lrBox.value);
    const box = this.q(".crp-error");
    if (!(lr > 0) || !Number.isFinite(lr)) { box.hidden = false; box.textContent = "The learning rate must be a positive number."; return; }
    if (!this.params.size) { box.hidden = false; box.textContent = "Tick at least one input to learn."; return; }
    const leaf = this.leaf.slice();
    for (const n of this.G.nodes) {
      if (n.kind === "input" && this.params.has(n.label)) leaf[n.id] = leaf[n.id] - lr * this.S.grad[n.id];
    }
    this.setLeaves(leaf, false);
  };

  Player.prototype.pushLoss = function () {
    const box = this.q(".crp-loss");
    if (!box) return;
    this.history.push(this.S.value[this.G.output]);
    const hs = this.history.slice(-40);
    const out = nm(this.G.nodes[this.G.output]);
    const lo = Math.min(...hs), hi = Math.max(...hs);
    const W = 240, H = 48;
    const pts = hs.map((v, i) => [hs.length < 2 ? W / 2 : 4 + (W - 8) * i / (hs.length - 1),
                                  hi === lo ? H / 2 : 4 + (H - 8) * (hi - v) / (hi - lo)]);
    const first = this.history.length - hs.length;
    box.innerHTML = (hs.length < 2 ? `<p class="crp-muted">Press the button: the loss after each step appears here.</p>` : `
      <svg class="crp-spark" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img"
           aria-label="${esc(out)} over the steps, from ${esc(fmt6(hs[0]))} to ${esc(fmt6(hs[hs.length - 1]))}">
        <polyline points="${pts.map((p) => p.join(",")).join(" ")}" fill="none" class="crp-spark-line"/>
        ${pts.map((p) => `<circle cx="${p[0]}" cy="${p[1]}" r="2.5" class="crp-spark-dot"/>`).join("")}
      </svg>`) + `
      <ol class="crp-history" start="${first}">${hs.map((v, i) => `<li><span class="crp-muted">step ${first + i}:</span> ${esc(out)} = ${esc(fmt6(v))}</li>`).join("")}</ol>`;
  };

  // ---------------------------------------------------------------- what a step shows
  Player.prototype.stepState = function () {
    const G = this.G, k = this.k, st = this.steps[k];
    const done = (u) => this.bwdAt.has(u) && this.bwdAt.get(u) <= k;
    const known = (i) => !G.nodes[i].op || this.fwdAt[i] <= k;
    const final = k >= this.steps.length - 2 && G.hasGrads;
    const activeEdges = new Set(), doneEdges = new Set(), activeNodes = new Set();
    if (st.kind === "forward") {
      for (const i of st.computes) {
        activeNodes.add(i);
        G.nodes[i].inputs.forEach((_, p) => activeEdges.add(i + ":" + p));
      }
    }
    for (const [u, fs] of this.folds) {
      if (!done(u)) continue;
      const set = u === st.node && st.kind === "backward" ? activeEdges : doneEdges;
      for (const f of fs) for (const [a, p] of f.edges) set.add(a + ":" + p);
      if (u === st.node && st.kind === "backward") activeNodes.add(u);
    }
    // what each node's gradient reads at this step
    const gradShown = (i) => {
      if (!G.hasGrads || !G.needsGrad[i]) return {text: null};
      if (final) return {value: this.S.grad[i], final: true};
      if (i === G.output) return k >= (this.bwdAt.get(i) || Infinity) ? {value: 1, final: true} : {};
      const tops = this.reachedBy[i];
      const seen = tops.filter(done);
      if (!seen.length) return {};
      if (seen.length === tops.length) return {value: this.S.grad[i], final: true};
      if (!G.isLink.has(i)) return {};
      let sum = 0;
      for (const u of seen) for (const f of this.folds.get(u)) if (f.bottom === i) sum += this.S.grad[u] * f.value;
      return {value: sum, final: false};
    };
    return {st, done, known, final, activeEdges, doneEdges, activeNodes, gradShown};
  };

  // ---------------------------------------------------------------- rendering
  Player.prototype.render = function () {
    this.view = this.stepState();
    this.renderToolbar();
    this.renderNarration();
    this.renderGraph();
    this.renderChain();
    this.renderNode();
  };

  Player.prototype.renderToolbar = function () {
    const {st} = this.view;
    const n = this.steps.length;
    this.q(".crp-counter").textContent = `Step ${this.k + 1} / ${n}`;
    const phase = {setup: "Setup", forward: "Forward pass", backward: "Backward pass", result: "Result", summary: "Result"}[st.kind];
    this.q(".crp-phase").textContent = phase;
    this.q(".crp-phase").dataset.phase = st.kind;
    this.q('[data-act="prev"]').disabled = this.k === 0;
    this.q('[data-act="first"]').disabled = this.k === 0;
    this.q('[data-act="next"]').disabled = this.k === n - 1;
    this.q('[data-act="last"]').disabled = this.k === n - 1;
  };

  Player.prototype.withNumbers = function (expr) {
    // "w1 · x + b1" -> "0.5 · 1 + 0": every label replaced by its current value
    return expr.replace(/[\p{L}_][\p{L}\p{N}_]*/gu, (name) => {
      const id = this.G.byLabel.get(name);
      if (id === undefined) return name;
      const v = this.S.value[id];
      const s = fmt(v);
      return isNum(v) && v < 0 ? `(${s})` : s;
    });
  };

  Player.prototype.rhs = function (id) {
    return (this.data.exprs && this.data.exprs[id]) || (this.data.rhs && this.data.rhs[id]) || this.G.nodes[id].expr || this.G.nodes[id].op;
  };

  Player.prototype.renderNarration = function () {
    const G = this.G, S = this.S, {st} = this.view;
    const out = G.nodes[G.output];
    const dOut = (i) => `∂${nm(out)}/∂${nm(G.nodes[i])}`;
    let html = "";
    if (st.kind === "setup") {
      const ins = G.nodes.filter((n) => !n.op && n.kind === "input");
      const more = ins.length > 12 ? `, and ${ins.length - 12} more` : "";
      html = `<p><strong>Setup.</strong> Inputs: ${ins.slice(0, 12).map((n) => `${esc(n.label)} = ${esc(fmt6(S.value[n.id]))}`).join(", ") || "none"}${more}.</p>
        <p class="crp-muted">Press <kbd>Step ▸</kbd> (or <kbd>Space</kbd>): the forward pass computes each value from its inputs; then the backward pass sends ${esc(dOut(G.output).split("/")[0])}/∂(each node) back along every edge, multiplying by one local derivative per edge.</p>`;
    } else if (st.kind === "forward") {
      const n = G.nodes[st.node];
      const rhs = this.rhs(n.id);
      html = `<p><strong>Forward.</strong> ${n.name ? `${esc(n.label)} = ` : ""}${esc(rhs)} = ${esc(this.withNumbers(rhs))} = <strong>${esc(fmt6(S.value[n.id]))}</strong></p>`;
      if (st.computes.length > 1) html += `<p class="crp-muted">${st.computes.length} primitive steps: ${st.computes.map((i) => esc(G.nodes[i].shown)).join(", ")}.</p>`;
    } else if (st.kind === "backward") {
      const u = st.node, n = G.nodes[u];
      const g = S.grad[u];
      const rows = (this.folds.get(u) || []).map((f) => {
        const v = G.nodes[f.bottom];
        const label = `∂${nm(n)}/∂${nm(v)}`;
        const formula = this.linkFormula(u, f);
        return `<tr><td>${esc(dOut(u))} × ${esc(label)}</td><td>${esc(this.gradText(u))} × ${esc(fmt6(f.value))}${formula && formula !== f.value ? ` <span class="crp-muted">(${esc(formula)})</span>` : ""}</td><td>= <strong>${esc(times(g, f.value))}</strong></td><td>→ ${esc(dOut(f.bottom))}</td></tr>`;
      }).join("");
      html = `<p><strong>Backward at ${esc(n.shown)}.</strong> ${u === G.output ? `The sweep starts with ${esc(dOut(u))} = 1.` : `${esc(dOut(u))} = ${esc(this.gradText(u))} has arrived from everything that uses ${esc(n.shown)}.`}
        Each input gets incoming × local = contribution:</p>
        <div class="crp-scroll"><table class="crp-table"><thead><tr><th>chain rule</th><th>incoming × local</th><th>contribution</th><th>adds to</th></tr></thead><tbody>${rows}</tbody></table></div>`;
    } else if (st.kind === "result") {
      const cs = this.chainFor(this.wrt);
      if (cs) {
        const p = cs.paths[0];
        const prod = this.chainTotal(cs);
        html = `<p><strong>Result.</strong> ${esc(this.chainLabel(cs))} = ${cs.paths.length === 1 ? p.factors.map((f) => esc(this.factorLabel(f))).join(" · ") + " = " : `the sum over ${esc(cs.path_count_text)} paths = `}<strong>${esc(this.totalText(cs, prod))}</strong></p>
          <p class="crp-muted">The backward pass got ${esc(this.gradText(cs.node))} for ${esc(cs.wrt)}${isNum(prod) ? ": the same number" : ""}.</p>`;
      } else {
        html = `<p><strong>Result.</strong> The backward pass is done: every node holds ${esc(dOut(G.output).split("/")[0])}/∂node.</p>`;
      }
    } else {
      const ins = G.nodes.filter((n) => n.kind === "input");
      const MAX = 12, more = ins.length - MAX;
      html = `<p><strong>One sweep, every gradient.</strong> ${ins.slice(0, MAX).map((n) => `${esc(dOut(n.id))} = ${esc(this.gradText(n.id))}`).join(", ")}${more > 0 ? `, and ${more} more (click a box to see its own)` : ""}.</p>
        <p class="crp-muted">Each factor was computed once and reused by every chain through it. A gradient-descent step moves each parameter p to p − η · ${esc(dOut(G.output).split("/")[0])}/∂p${this.controls ? ": try the button below" : ""}.</p>`;
    }
    const notes = this.data.step_notes;
    if (notes && notes.length === this.steps.length && notes[this.k]) html += `<p class="crp-note">${esc(notes[this.k])}</p>`;
    this.q(".crp-narration").innerHTML = html;
  };

  Player.prototype.linkFormula = function (top, f) {
    const lf = this.data.link_formulas && this.data.link_formulas[top];
    if (!lf) return "";
    const hit = lf.find((e) => e[0] === f.bottom && e[1] === f.slot);
    return hit ? hit[2] : "";
  };

  // positions of everything drawn, with expanded groups opened in place
  Player.prototype.positions = function () {
    const L = this.data.layout, groups = L.groups || {};
    const cols = L.columns.length;
    const extraW = new Array(cols).fill(0);
    const items = new Map(L.items.map((it) => [String(it.key), it]));
    const byCol = Array.from({length: cols}, () => []);
    for (const it of L.items) byCol[it.layer].push(it);
    const size = (it) => {
      const g = this.expanded.has(String(it.key)) && groups[it.key];
      return g ? [Math.max(g.width, it.w), g.height + HEADER] : [it.w, it.h];
    };
    for (const it of L.items) {
      if (this.expanded.has(String(it.key)) && groups[it.key]) {
        extraW[it.layer] = Math.max(extraW[it.layer], size(it)[0] - L.columns[it.layer][1]);
      }
    }
    const xshift = [];
    let acc = 0;
    for (let c = 0; c < cols; c++) { xshift.push(acc); acc += extraW[c]; }
    const pos = new Map();
    let height = L.height;
    for (let c = 0; c < cols; c++) {
      let dy = 0;
      for (const it of byCol[c].slice().sort((a, b) => a.y - b.y)) {
        const [w, h] = size(it);
        const open = w !== it.w || h !== it.h;
        const x = open ? L.columns[c][0] + xshift[c] : it.x + xshift[c];
        pos.set(String(it.key), {x, y: it.y + dy, w, h, open});
        dy += h - it.h;
        height = Math.max(height, it.y + dy + it.h + 16);
      }
    }
    // members of open groups
    for (const key of this.expanded) {
      const g = groups[key], p = pos.get(key);
      if (!g || !p) continue;
      for (const it of g.items) pos.set(String(it.key), {x: p.x + it.x, y: p.y + HEADER + it.y, w: it.w, h: it.h, member: key});
    }
    return {pos, width: L.width + acc, height, items};
  };

  Player.prototype.renderGraph = function () {
    const G = this.G, S = this.S, V = this.view, L = this.data.layout, groups = L.groups || {};
    const {pos, width, height} = this.positions();
    const drawn = (id) => {            // the box a node is drawn in: itself, or its closed group
      const gk = this.groupOf.get(id);
      return gk !== undefined && !this.expanded.has(gk) ? gk : String(id);
    };
    // gradient scale: log of |contribution|, four decades
    const mags = [];
    G.nodes.forEach((n) => { const g = S.grad && S.grad[n.id]; if (isNum(g) && g !== 0 && Number.isFinite(g)) mags.push(Math.log10(Math.abs(g))); });
    const hi = mags.length ? Math.max(...mags) : 0, lo = mags.length ? Math.max(Math.min(...mags), hi - 4) : 0;
    const scaleT = (v) => !isNum(v) || v === 0 ? 0 : !Number.isFinite(v) ? 1 : hi === lo ? 1 : Math.min(1, Math.max(0, (Math.log10(Math.abs(v)) - lo) / (hi - lo)));
    const sign = (v) => !isNum(v) || v === 0 || Number.isNaN(v) ? "zero" : v < 0 ? "neg" : "pos";

    // selection: every path from the selected node up to the output
    const onPath = new Set();
    if (this.selected !== null) {
      const stack = [this.selected];
      while (stack.length) {
        const i = stack.pop();
        if (onPath.has(i)) continue;
        onPath.add(i);
        for (const [c] of G.consumers[i]) stack.push(c);
      }
    }

    const out = [];
    const edges = [];  // [points, primitive edges]
    const port = (key, p, np) => { const b = pos.get(key); return [b.x, b.y + b.h * (p + 0.5) / np]; };
    const right = (key) => { const b = pos.get(key); return [b.x + b.w, b.y + b.h / 2]; };
    const mid = (key) => { const b = pos.get(key); return [b.x + b.w / 2, b.y + b.h / 2]; };
    const srcKey = (item) => {         // an open group's edges leave from its root's box
      const g = groups[item];
      return g && this.expanded.has(String(item)) ? String(g.root) : String(item);
    };
    L.routes.forEach((r, ri) => {
      const under = L.routes_under[ri];
      const via = r.dummies.map((d) => mid(d));
      const dst = String(r.dst);
      if (groups[dst] && this.expanded.has(dst)) {
        for (const [a, b, p] of under) {
          const nb = G.nodes[b];
          edges.push([[right(srcKey(r.src)), ...via, port(String(b), p, nb.inputs.length)], [[b, p]]]);
        }
      } else {
        // into a closed line (z1 = w1 · x + b1): the factor ∂z1/∂w1 the chain uses, not mul's local
        const g = groups[dst];
        const fold = g && g.line && this.folds.has(g.root) ? [g.root, groups[r.src] ? groups[r.src].root : Number(r.src)] : null;
        edges.push([[right(srcKey(r.src)), ...via, port(dst, r.port, r.nports)], under.map(([a, b, p]) => [b, p]), fold]);
      }
    });
    for (const key of this.expanded) {
      const g = groups[key];
      if (!g) continue;
      for (const r of g.routes) {
        const via = r.dummies.map((d) => mid(d));
        edges.push([[right(String(r.src)), ...via, port(String(r.dst), r.port, r.nports)], [[r.dst, r.port]]]);
      }
    }
    const dense = edges.length > 60;
    for (const [pts, prims, fold] of edges) {
      let flow = 0, hasFlow = false, state = "", local = null;
      for (const [b, p] of prims) {
        const key = b + ":" + p;
        if (V.activeEdges.has(key)) state = "active";
        else if (!state && V.doneEdges.has(key)) state = "done";
        const a = G.nodes[b].inputs[p];
        const l = S.local[b] && S.local[b][p];
        if (isNum(l) && G.needsGrad[a] && S.grad && isNum(S.grad[b])) { flow += S.grad[b] * l; hasFlow = true; }
        if (prims.length === 1) local = l;
      }
      if (fold) {
        const fs = this.folds.get(fold[0]).filter((f) => f.bottom === fold[1]);
        local = fs.length && fs.every((f) => isNum(f.value)) ? fs.reduce((a, f) => a + f.value, 0) : null;
        if (isNum(local) && S.grad && isNum(S.grad[fold[0]])) { flow = S.grad[fold[0]] * local; hasFlow = true; }
      }
      const forward = V.st.kind === "forward" && state === "active";
      const lit = state && !forward;
      const t = lit && hasFlow ? scaleT(flow) : 0;
      const sel = prims.some(([b, p]) => onPath.has(b) && onPath.has(G.nodes[b].inputs[p]));
      const cls = ["crp-edge", forward ? "is-forward" : "", state === "active" && !forward ? "is-active" : "",
                   lit ? "is-done crp-" + sign(flow) : "", sel ? "is-path" : ""].join(" ");
      out.push(`<path class="${cls}" d="${curve(pts)}" style="stroke-width:${(1.2 + 4.5 * t + (sel ? 1.5 : 0)).toFixed(2)}px"/>`);
      if (lit && isNum(local) && (!dense || state === "active")) {
        const [x0, y0] = pts[pts.length - 2], [x1, y1] = pts[pts.length - 1];
        const mx = (x0 + x1) / 2, my = (y0 + y1) / 2, lab = "×" + fmt(local, 3), w = lab.length * 6.8 + 8;
        out.push(`<g class="crp-elabel ${state === "active" ? "is-active" : ""}"><rect x="${mx - w / 2}" y="${my - 8}" width="${w}" height="15" rx="3"/><text x="${mx}" y="${my + 3.5}" text-anchor="middle">${esc(lab)}</text></g>`);
      }
    }

    // boxes
    const nodeBox = (n, b) => {
      const known = V.known(n.id);
      const g = V.gradShown(n.id);
      const active = V.activeNodes.has(n.id);
      const t = g.final && isNum(g.value) ? scaleT(g.value) : 0;
      const title = n.title;
      const valueText = n.shape && !isNum(n.value) ? `[${n.shape.join("×")}]  ‖value‖ ${fmt(n.norm)}`
                                                   : `value ${known ? fmt(S.value[n.id]) : "?"}`;
      let gradText = null;
      if (G.needsGrad[n.id]) {
        if (!G.hasGrads) gradText = "grad: not computed yet";
        else if (n.shape) gradText = g.value !== undefined ? `‖grad‖ ${fmt(n.grad_norm)}` : "‖grad‖ ?";
        else if (g.value === undefined) gradText = "grad ?";
        else gradText = `grad ${fmt(g.value)}${g.final ? "" : " so far"}`;
      }
      const cls = ["crp-box", "crp-" + (n.op ? "op" : n.kind), known ? "" : "is-pending", active ? "is-active" : "",
                   this.selected === n.id ? "is-selected" : "", onPath.has(n.id) ? "is-path" : "",
                   n.id === G.output ? "is-output" : "", g.final ? "crp-" + sign(g.value) : ""].join(" ");
      const w = b.w, h = b.h;
      const cut = (s, cw) => { const room = Math.floor((w - 14) / (cw || 6.2)); return s.length > room ? s.slice(0, room - 1) + "…" : s; };
      const now = active ? (V.st.kind === "forward" ? "computing" : "sending back") : "";
      // the name holds the box's visible text, in order (WCAG 2.5.3), then what kind of node it is
      const seen = [now, cut(title, 7), cut(valueText), gradText ? cut(gradText) : ""].filter(Boolean).join(" ");
      const aria = `${n.shown}: ${seen} (${n.op ? "operation " + n.op : n.kind}${gradText ? ", " + gradText : ""})`;
      return `<g class="${cls}" transform="translate(${b.x.toFixed(1)},${b.y.toFixed(1)})" data-key="${n.id}" tabindex="0" role="button" aria-label="${esc(aria)}">
        <title>${esc(aria)}</title>
        <rect class="crp-frame" width="${w}" height="${h}" rx="${n.op ? 6 : 14}"/>
        ${now ? `<text class="crp-now" x="${w / 2}" y="-6" text-anchor="middle">${now}</text>` : ""}
        <text class="crp-t1" x="9" y="17">${esc(cut(title, 7))}</text>
        <text class="crp-t2" x="9" y="32">${esc(cut(valueText))}</text>
        ${gradText ? `<text class="crp-t3" x="9" y="47">${esc(cut(gradText))}</text>` : ""}
        ${g.final && G.needsGrad[n.id] ? `<rect class="crp-meter-bg" x="8" y="${h - 7}" width="${w - 16}" height="3" rx="1.5"/><rect class="crp-meter crp-${sign(g.value)}" x="8" y="${h - 7}" width="${((w - 16) * t).toFixed(1)}" height="3" rx="1.5"/>` : ""}
      </g>`;
    };
    const groupBox = (key, b) => {
      const g = groups[key], r = G.nodes[g.root];
      const members = g.members;
      const active = members.some((m) => V.activeNodes.has(m));
      const known = V.known(g.root);
      const gs = V.gradShown(g.root);
      const sel = this.selected !== null && members.includes(this.selected);
      const path = members.some((m) => onPath.has(m));
      if (b.open) {   // the frame goes under the edges, its title bar over them (edges pass beneath it)
        heads.push(`<g class="crp-group-top" transform="translate(${b.x.toFixed(1)},${b.y.toFixed(1)})">
          <g data-key="${key}" tabindex="0" role="button" aria-expanded="true" aria-label="${esc(g.line ? r.title : r.shown)} · ${members.length} steps (click to close): collapse ${esc(r.shown)}'s ${members.length} nodes">
            <rect class="crp-group-head" width="${b.w}" height="${HEADER - 4}" rx="10"/>
            <text class="crp-t1" x="10" y="16">▾ ${esc(g.line ? r.title : r.shown)} · ${members.length} steps (click to close)</text></g></g>`);
        return `<g class="crp-group is-open" transform="translate(${b.x.toFixed(1)},${b.y.toFixed(1)})">
          <rect class="crp-frame" width="${b.w}" height="${b.h}" rx="10"/></g>`;
      }
      const cls = ["crp-group", active ? "is-active" : "", sel ? "is-selected" : "", path ? "is-path" : "",
                   known ? "" : "is-pending", gs.final ? "crp-" + sign(gs.value) : ""].join(" ");
      const t = gs.final ? scaleT(gs.value) : 0;
      const now = active ? `inside: ${V.st.kind === "forward" ? "computing" : "sending back"}` : "";
      const lines = [g.title || `▸ ${r.shown} (+${members.length - 1} nodes)`, `value ${known ? fmt(S.value[g.root]) : "?"}`,
                     gs.value === undefined ? (G.hasGrads ? "grad ?" : "grad: not computed yet") : "grad " + fmt(gs.value) + (gs.final ? "" : " so far")];
      // the name holds the visible text, in order (WCAG 2.5.3)
      const aria = `${[now, ...lines].filter(Boolean).join(" ")}: ${r.shown} and ${members.length - 1} nodes only it uses, collapsed; press Enter to expand`;
      return `<g class="${cls}" transform="translate(${b.x.toFixed(1)},${b.y.toFixed(1)})" data-key="${key}" tabindex="0" role="button" aria-expanded="false" aria-label="${esc(aria)}">
        <title>${esc(aria)}</title>
        <rect class="crp-shadow" x="4" y="4" width="${b.w}" height="${b.h}" rx="8"/>
        <rect class="crp-frame" width="${b.w}" height="${b.h}" rx="8"/>
        ${now ? `<text class="crp-now" x="${b.w / 2}" y="-6" text-anchor="middle">${now}</text>` : ""}
        <text class="crp-t1" x="9" y="17">${esc(lines[0])}</text>
        <text class="crp-t2" x="9" y="32">${esc(lines[1])}</text>
        <text class="crp-t3" x="9" y="47">${esc(lines[2])}</text>
        ${gs.final ? `<rect class="crp-meter-bg" x="8" y="${b.h - 7}" width="${b.w - 16}" height="3" rx="1.5"/><rect class="crp-meter crp-${sign(gs.value)}" x="8" y="${b.h - 7}" width="${((b.w - 16) * t).toFixed(1)}" height="3" rx="1.5"/>` : ""}
      </g>`;
    };
    const boxes = [], heads = [];
    for (const it of L.items) {
      if (it.dummy) continue;
      const key = String(it.key), b = pos.get(key);
      if (groups[key]) {
        boxes.push(groupBox(key, b));
        if (b.open) for (const m of groups[key].items) if (!m.dummy) boxes.push(nodeBox(G.nodes[m.key], pos.get(String(m.key))));
      } else boxes.push(nodeBox(G.nodes[it.key], b));
    }
    const banner = !G.hasGrads ? `<g class="crp-banner"><rect x="8" y="6" width="${Math.max(300, width - 16)}" height="24" rx="5"/><text x="18" y="22">gradients not computed yet: this trace was recorded without a backward pass</text></g>` : "";
    const top = banner ? 34 : 0;
    // edges under the open groups' frames would be hidden: draw group frames first, then edges, then boxes
    const frames = boxes.filter((s) => s.includes("is-open"));
    const rest = boxes.filter((s) => !s.includes("is-open"));
    const focused = document.activeElement && this.svg.contains(document.activeElement) && document.activeElement.dataset
      ? document.activeElement.dataset.key : null;
    const s = this.currentScale(width, height + top);
    // whole-pixel sizes, so that at 100 % one unit of the drawing is exactly one pixel
    const VW = Math.ceil(width), VH = Math.ceil(height + top);
    this.svg.setAttribute("viewBox", `0 0 ${VW} ${VH}`);
    this.svg.setAttribute("width", Math.round(VW * s));
    this.svg.setAttribute("height", Math.round(VH * s));
    this.svg.innerHTML = `${banner}<g transform="translate(0,${top})">${frames.join("")}${out.join("")}${heads.join("")}${rest.join("")}</g>`;
    this.drawn = {pos, top, drawn, width, height: height + top};
    for (const t of this.svg.querySelectorAll(".crp-t1")) {
      const frame = t.parentNode.querySelector(".crp-frame");
      const room = (frame ? frame.width.baseVal.value : 0) - 16;
      if (room > 0 && t.getComputedTextLength() > room) {
        t.setAttribute("textLength", room);
        t.setAttribute("lengthAdjust", "spacingAndGlyphs");
      }
    }
    if (focused) {
      const again = this.svg.querySelector(`[data-key="${focused}"]`);
      if (again) again.focus({preventScroll: true});
    }
  };

  // The graph's zoom. At first it is drawn at 100 %, where no text is under 11 px (a graph
  // wider than the screen scrolls sideways, following the step); "Fit" shows all of it
  // inside the visible area, however small that makes it; − and + zoom from there.
  Player.prototype.currentScale = function (width, height) {
    if (typeof this.scale === "number") return Math.min(2.5, Math.max(0.1, this.scale));
    if (this.scale !== "fit") return 1;
    const W = width || (this.drawn && this.drawn.width) || this.data.layout.width;
    const H = height || (this.drawn && this.drawn.height) || this.data.layout.height;
    const box = this.q(".crp-graph"), css = getComputedStyle(box);
    const frame = (parseFloat(css.borderLeftWidth) || 0) + (parseFloat(css.borderRightWidth) || 0);
    const availW = Math.max(40, box.clientWidth - 2);
    // the box grows up to its max-height (72vh): fit into that, not into its current height
    const maxH = parseFloat(css.maxHeight);
    const availH = Math.max(40, (Number.isFinite(maxH) ? maxH - frame : window.innerHeight * 0.7) - 2);
    return Math.min(1, availW / W, availH / H);
  };

  Player.prototype.scrollToStep = function () {
    // keep the node of this step in view (phones scroll the graph sideways)
    const st = this.steps[this.k];
    if (st.node === undefined || !this.drawn) return;
    const key = this.drawn.drawn(st.node);
    const b = this.drawn.pos.get(key);
    const box = this.q(".crp-graph");
    if (!b || box.scrollWidth <= box.clientWidth + 2) return;
    const s = this.currentScale();
    const left = (b.x + b.w / 2) * s - box.clientWidth / 2;
    box.scrollTo({left: Math.max(0, left), behavior: "smooth"});
  };

  function curve(pts) {
    let [x0, y0] = pts[0];
    let d = `M${x0.toFixed(1)},${y0.toFixed(1)}`;
    for (let i = 1; i < pts.length; i++) {
      const [x1, y1] = pts[i], dx = (x1 - x0) / 2;
      d += ` C${(x0 + dx).toFixed(1)},${y0.toFixed(1)} ${(x1 - dx).toFixed(1)},${y1.toFixed(1)} ${x1.toFixed(1)},${y1.toFixed(1)}`;
      x0 = x1; y0 = y1;
    }
    return d;
  }

  // ---------------------------------------------------------------- the chain panel
  Player.prototype.chainFor = function (label) {
    return this.chains.find((c) => c.wrt === label) || null;
  };

  // Labels of the explanation's factors, written with the learner's expressions where the
  // explanation had to use a made-up label (a program that names no intermediate step).
  const plainNode = (n) => n.name || !n.op;
  Player.prototype.factorLabel = function (f) {
    const top = this.G.nodes[f.node], bottom = this.G.nodes[f.input];
    return plainNode(top) && plainNode(bottom) ? f.label : `∂${nm(top)}/∂${nm(bottom)}`;
  };
  Player.prototype.factorFormula = function (f) {
    const lf = this.data.link_formulas && this.data.link_formulas[f.node];
    const hit = lf && lf.find((e) => e[0] === f.input && e[1] === (f.slot || 0));
    return hit ? hit[2] : f.formula;
  };
  Player.prototype.chainLabel = function (cs) {
    const out = this.G.nodes[this.G.output], wrt = this.G.nodes[cs.node];
    return plainNode(out) && plainNode(wrt) ? cs.label : `∂${nm(out)}/∂${nm(wrt)}`;
  };

  Player.prototype.pathProduct = function (p) { return pathProduct(this.folds, p); };
  Player.prototype.chainTotal = function (cs) { return chainTotal(this.folds, this.S, cs); };

  Player.prototype.gradText = function (i) {
    const g = this.S.grad[i], n = this.G.nodes[i];
    if (isNum(g)) return fmt6(g);
    return n.grad_norm !== null && n.grad_norm !== undefined ? `an array of norm ${fmt6(n.grad_norm)}` : fmt(g);
  };
  // a total that may be an array: its norm instead
  Player.prototype.totalText = function (cs, total) {
    return total === null ? this.gradText(cs.node) : fmt6(total);
  };

  Player.prototype.renderChain = function () {
    const box = this.q(".crp-chain");
    const G = this.G;
    if (!G.hasGrads || !this.chains.length) {
      box.innerHTML = `<h2>The chain</h2><p class="crp-muted">${G.hasGrads ? "No chain to show." : "Gradients not computed yet: this trace has no backward pass, so there is no chain to show."}</p>`;
      return;
    }
    const cs = this.chainFor(this.wrt) || this.chains[0];
    const V = this.view;
    const options = this.chains.map((c) => `<option value="${esc(c.wrt)}" ${c === cs ? "selected" : ""}>${esc(this.chainLabel(c))}</option>`).join("");
    const MAXF = 12;
    const MAXP = cs.paths.some((p) => p.factors.length > MAXF) ? 2 : 4;   // long paths: fewer rows
    const factorBox = (f) => {
      const lit = V.done(f.node) || V.final;
      const v = this.factorValue(f);
      const label = this.factorLabel(f), formula = this.factorFormula(f);
      return `<div class="crp-factor ${lit ? "is-lit" : ""}" data-select="${f.input}" title="${esc(label)} = ${esc(formula)}">
        <div class="crp-f-label">${esc(label)}</div>
        <div class="crp-f-value">${lit ? (isNum(v) ? esc(fmt6(v)) : "array") : "?"}</div>
        <div class="crp-f-formula">${esc(formula)}</div></div>`;
    };
    const pathRow = (p) => {
      let fs = p.factors.map(factorBox);
      if (fs.length > MAXF) fs = [...fs.slice(0, 5), `<div class="crp-factor crp-gap">… ${fs.length - 10} more …</div>`, ...fs.slice(-5)];
      const lit = p.factors.every((f) => V.done(f.node)) || V.final;
      return `<div class="crp-path">${fs.join('<span class="crp-dot" aria-hidden="true">·</span>')}
        <span class="crp-result"><span class="crp-eq">=</span><span class="crp-product ${lit ? "is-lit" : ""}">${lit ? esc(this.pathProduct(p) === null ? "(arrays)" : fmt6(this.pathProduct(p))) : "?"}</span></span></div>`;
    };
    const total = this.chainTotal(cs);
    const allLit = cs.paths.every((p) => p.factors.every((f) => V.done(f.node))) || V.final;
    const several = cs.paths.length > 1 || cs.summarised;
    box.innerHTML = `<h2>The chain <label class="crp-pick">for <select class="crp-chain-wrt" aria-label="which input">${options}</select></label></h2>
      <p class="crp-muted">Each box is one local derivative; the backward pass computes it at the step that lights it. ${several ? `There are ${esc(cs.path_count_text)} paths from ${esc(G.nodes[G.output].shown)} down to ${esc(cs.wrt)}: their products add up.` : "Their product is the gradient."}</p>
      <div class="crp-chain-head">${esc(this.chainLabel(cs))} =</div>
      ${cs.paths.slice(0, MAXP).map(pathRow).join(several ? '<div class="crp-plus">+</div>' : "")}
      ${cs.paths.length > MAXP || cs.summarised ? `<p class="crp-muted">… and ${esc(String(Number(cs.path_count_text) - Math.min(MAXP, cs.paths.length)) || "more")} more paths.</p>` : ""}
      <p class="crp-chain-total">${esc(this.chainLabel(cs))} = <strong>${allLit ? esc(this.totalText(cs, total)) : "?"}</strong>
        ${allLit ? `<span class="crp-muted">(backward pass: ${esc(this.gradText(cs.node))})</span>` : `<span class="crp-muted">(step on to light every box)</span>`}</p>
      ${(cs.notes || []).map((n) => `<p class="crp-muted crp-small-text">${esc(n)}</p>`).join("")}`;
  };

  // ---------------------------------------------------------------- the node panel
  Player.prototype.renderNode = function () {
    const box = this.q(".crp-node");
    box.classList.toggle("has-node", this.selected !== null);
    if (this.selected === null) return;
    const G = this.G, S = this.S, n = G.nodes[this.selected];
    const out = nm(G.nodes[G.output]);
    const d = (a, b) => `∂${nm(a)}/∂${nm(b)}`;    // a, b: nodes
    const kind = n.op ? `operation <code>${esc(n.op)}</code>` : n.kind === "input" ? "input (a leaf that gets a gradient)" : "constant (no gradient)";
    const formulaAt = (port) => {
      const step = this.data.trace.backward.find((s) => s.node === n.id);
      if (!step) return "";
      const i = n.inputs[port];
      const same = n.inputs.slice(0, port).filter((j) => j === i).length;
      let seen = 0;
      const k = step.locals.findIndex((l) => l.input === i && seen++ === same);
      if (k < 0) return "";
      const mine = this.data.local_formulas && this.data.local_formulas[n.id];
      return mine ? mine[k] : step.locals[k].formula;
    };
    const locals = n.op ? n.inputs.map((i, port) => {
      const l = S.local[n.id][port];
      const v = G.nodes[i];
      if (!G.needsGrad[i]) return `<li>${esc(d(n, v))}: ${esc(v.shown)} is a constant, so nothing flows back to it</li>`;
      const f = formulaAt(port);   // "∂z/∂b = 1", not "= 1 = 1"
      return `<li>${esc(d(n, v))} = ${f && f !== fmt6(l) ? `${esc(f)} = ` : ""}<strong>${esc(fmt6(l))}</strong></li>`;
    }).join("") : "";
    let grads = "";
    if (G.hasGrads && G.needsGrad[n.id]) {
      const incoming = G.consumers[n.id].map(([c, port]) => {
        const l = S.local[c][port], cn = G.nodes[c];
        return `<li>from <button type="button" class="crp-link" data-select="${c}">${esc(cn.shown)}</button>: ${esc(d(G.nodes[G.output], cn))} × ${esc(d(cn, n))} = ${esc(this.gradText(c))} × ${esc(fmt6(l))} = ${esc(times(S.grad[c], l))}</li>`;
      }).join("");
      const sends = n.op ? n.inputs.map((i, port) => G.needsGrad[i]
        ? `<li>to <button type="button" class="crp-link" data-select="${i}">${esc(G.nodes[i].shown)}</button>: ${esc(this.gradText(n.id))} × ${esc(fmt6(S.local[n.id][port]))} = ${esc(times(S.grad[n.id], S.local[n.id][port]))}</li>` : "").join("") : "";
      grads = `<h3>Gradient</h3>
        ${n.id === G.output ? `<p>The output: the sweep starts here with ${esc(d(G.nodes[G.output], n))} = 1.</p>`
                            : `<p>Incoming (incoming gradient × local derivative, from each node that uses ${esc(n.shown)}):</p><ul>${incoming}</ul>`}
        <p class="crp-acc">Accumulated: ${esc(d(G.nodes[G.output], n))} = <strong>${esc(this.gradText(n.id))}</strong></p>
        ${sends ? `<p>Sends back:</p><ul>${sends}</ul>` : ""}`;
    } else if (!G.hasGrads) {
      grads = `<p class="crp-muted">Gradients not computed yet.</p>`;
    }
    const cs = this.chainFor(n.label);
    const chain = cs ? `<h3>Chain</h3><p class="crp-chainline">${esc(this.chainLabel(cs))} = ${cs.paths.length === 1 ? cs.paths[0].factors.map((f) => `${esc(this.factorLabel(f))} <span class="crp-muted">(${esc(fmt6(this.factorValue(f)))})</span>`).join(" · ") : `sum of ${esc(cs.path_count_text)} paths`} = <strong>${esc(this.totalText(cs, this.chainTotal(cs)))}</strong></p>` : "";
    let paths = 0;
    if (G.hasGrads) {   // count paths up to the output (for the highlight's caption)
      const ways = new Array(G.nodes.length).fill(0);
      ways[n.id] = 1;
      for (let i = n.id; i < G.nodes.length; i++) if (ways[i]) for (const [c] of G.consumers[i]) ways[c] += ways[i];
      paths = ways[G.output];
    }
    box.innerHTML = `<h2>${esc(n.title)}</h2>
      <p>${kind}. ${n.shape ? `Shape [${esc(n.shape.join("×"))}], ‖value‖ <strong>${esc(fmt6(n.norm))}</strong>` : `Value <strong>${esc(fmt6(S.value[n.id]))}</strong>`}.</p>
      ${locals ? `<h3>Local derivatives</h3><ul>${locals}</ul>` : ""}
      ${grads}${chain}
      ${G.hasGrads && n.id !== G.output ? `<p class="crp-muted">${paths === 1 ? "1 path" : paths + " paths"} from ${esc(n.shown)} up to ${esc(G.nodes[G.output].shown)}, highlighted on the graph.</p>` : ""}`;
  };

  Player.prototype.destroy = function () {
    this.el.ownerDocument.removeEventListener("keydown", this.onKey);
    window.removeEventListener("resize", this.onResize);
    for (const [type, fn] of Object.entries(this.handlers)) this.el.removeEventListener(type, fn);
    this.el.innerHTML = "";
    this.el.classList.remove("crp");
    if (this.el._chainrulePlayer === this) delete this.el._chainrulePlayer;
    const i = players.indexOf(this);
    if (i >= 0) players.splice(i, 1);
  };

  // JSON cannot carry inf or NaN: a server may send them as "inf", "-inf", "nan". Numbers again:
  function revive(data) {
    const num = (v) => (v === "inf" ? Infinity : v === "-inf" ? -Infinity : v === "nan" ? NaN : v);
    const fix = (o, keys) => { if (o) for (const k of keys) if (typeof o[k] === "string") o[k] = num(o[k]); };
    const t = data.trace;
    for (const n of t.nodes) fix(n, ["value", "grad", "norm", "grad_norm"]);
    for (const f of t.forward) fix(f, ["value"]);
    for (const b of t.backward) { fix(b, ["incoming"]); for (const l of b.locals) fix(l, ["local", "contribution", "accumulated"]); }
    for (const c of (data.explanation && data.explanation.chains) || []) {
      fix(c, ["grad", "total"]);
      for (const p of c.paths) { fix(p, ["product"]); for (const f of p.factors) fix(f, ["value"]); }
    }
    for (const rows of Object.values(data.link_formulas || {})) for (const r of rows) r[3] = num(r[3]);
    return data;
  }

  const players = [];   // every mounted player, for tests and for pages that drive one
  root.ChainrulePlayer = {
    mount: (el, data, options) => {
      if (el._chainrulePlayer) el._chainrulePlayer.destroy();   // mounting again replaces the player
      if (data && data.digits) DIGITS = data.digits;   // one number policy per page: chainrule.numfmt's
      const p = new Player(el, revive(data), options);
      el._chainrulePlayer = p;
      players.push(p);
      return p;
    },
    players,
    fmt, pretty, computeState, foldLink, makeGraph,
    // the page's model of the numbers, checked against Python in node on every lesson (tests/test_player_model.py)
    model: {fmt, makeGraph, recordedState, computeState, foldLink, foldAll, factorValue, pathProduct, chainTotal},
  };
})(typeof window !== "undefined" ? window : globalThis);
