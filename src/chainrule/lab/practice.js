/* chainrule practice: problems generated and checked in the page.
 *
 * Reads chainrule.lab.practice.practice_data(): the same templates as `chainrule practice` (program,
 * friendly numbers, questions, slips), each with its program's recorded trace. Numbers are drawn with
 * mulberry32 (Python's practice.Rng: the same seed gives the same problem) and every answer is
 * recomputed with the op table's JS through the player's evaluator (ChainrulePlayer.computeState,
 * foldLink): nothing here knows a derivative.
 *
 *   ChainrulePractice.mount(element, data) -> component     (also ChainruleLab.KINDS.practice)
 *   ChainrulePractice.generate(data, kind, seed), .parseAnswer(text), .checkAnswer(text, truth)
 */
(function (root) {
  "use strict";
  const P = root.ChainrulePlayer;
  const MINUS = "\u2212";
  const fmt = (v) => P.fmt(v);
  const factor = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));   // chainrule.numfmt.factor
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  // ------------------------------------------------------------------ the seeded generator
  function Rng(seed) {
    let a = seed >>> 0;
    this.random = function () {   // mulberry32, as practice.Rng
      a = (a + 0x6D2B79F5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    this.pick = (items) => items[Math.min(Math.floor(this.random() * items.length), items.length - 1)];
  }

  // ------------------------------------------------------------------ generating
  const graphs = new WeakMap();
  function graphOf(T) {
    if (!graphs.has(T)) graphs.set(T, P.makeGraph({trace: T.trace, links: T.links, exprs: null}));
    return graphs.get(T);
  }

  function answersOf(T, S, inputs, lr) {
    const out = {};
    for (const a of T.asks) {
      if (a.what === "value") out[a.key] = S.value[a.node];
      else if (a.what === "grad") out[a.key] = S.grad[a.node];
      else out[a.key] = inputs[a.of] - lr * out[a.grad];
    }
    return out;
  }

  function draw(T, rng, tol) {
    const G = graphOf(T);
    for (let i = 0; i < tol.max_tries; i++) {
      const inputs = {};
      for (const [name, values] of Object.entries(T.choices)) inputs[name] = rng.pick(values);
      const lr = T.lr.length ? rng.pick(T.lr) : null;
      const S = P.computeState(G, {domains: {}}, (n) => (n.kind === "input" ? inputs[n.label] : n.value));
      if (S.error) continue;
      const answers = answersOf(T, S, inputs, lr);
      const vals = Object.values(answers);
      if (!vals.every((v) => Number.isFinite(v) && Math.abs(v) <= tol.max_answer)) continue;
      if (T.nonzero.some((k) => answers[k] === 0)) continue;
      return {template: T, inputs, lr, S, G, answers};
    }
    return null;
  }

  function generate(data, kind, seed) {
    const rng = new Rng(seed);
    if (!kind) kind = rng.pick(data.kinds);
    const options = data.templates.filter((t) => t.kind === kind);
    if (!options.length) throw new Error(`no practice kind ${kind}`);
    const T = options.length === 1 ? options[0] : rng.pick(options);
    const p = draw(T, rng, data.tol);
    if (!p) throw new Error(`no friendly numbers for ${T.name} with seed ${seed}`);
    p.seed = seed;
    p.kind = kind;
    return p;
  }

  // ------------------------------------------------------------------ worked lines
  const MARK = /(\()?\{([A-Za-z_][A-Za-z0-9_]*)\}(\))?/g;
  function fill(template, valueOf) {   // practice.fill: a negative number in brackets unless they are there
    return template.replace(MARK, (m, open, name, close) =>
      open && close ? `(${fmt(valueOf(name))})` : (open || "") + factor(valueOf(name)) + (close || ""));
  }

  function worked(p, ask) {
    const T = p.template, G = p.G, S = p.S;
    const valueOf = (name) => S.value[G.byLabel.get(name)];
    if (ask.what === "value")
      return [`${ask.line} = ${fill(ask.numbers, valueOf)} = ${fmt(p.answers[ask.key])}`];
    if (ask.what === "step") {
      return [`${ask.of}_new = ${ask.of} ${MINUS} lr · ∂${T.output}/∂${ask.of} = ${fmt(p.inputs[ask.of])} ${MINUS} ` +
              `${fmt(p.lr)} · ${factor(p.answers[ask.grad])} = ${fmt(p.answers[ask.key])}`];
    }
    const folds = P.model.foldAll(G, S, "names");     // the player's model: each link's factors now
    const valueOfFactor = (f) => P.model.factorValue(folds, f);
    const unique = new Map();
    for (const path of ask.paths) for (const f of path) {
      const k = `${f.node},${f.input},${f.slot || 0}`;
      if (!unique.has(k)) unique.set(k, f);
    }
    const lines = [];
    if (unique.size > 1) {   // explain's chain lines (render.chain_lines): one per path, then their sum
      const head = ask.label, pad = " ".repeat(head.length), products = [];
      ask.paths.forEach((path, i) => {
        const vs = path.map(valueOfFactor), prod = vs.reduce((a, b) => a * b, 1);
        products.push(prod);
        const text = path.length === 1 && ask.paths.length > 1 ? `${path[0].label} = ${fmt(vs[0])}`
          : `${path.map((f) => f.label).join(" · ")} = ${vs.map((v, j) => (j ? factor(v) : fmt(v))).join(" · ")} = ${fmt(prod)}`;
        lines.push(i === 0 ? `${head} = ${text}` : `${pad} + ${text}`);
      });
      if (products.length > 1) {
        const sum = products.map((v, i) => (i && v < 0 ? ` ${MINUS} ${fmt(-v)}` : (i ? " + " : "") + fmt(v))).join("");
        lines.push(`${pad} = ${sum} = ${fmt(p.answers[ask.key])}`);
      }
    }
    for (const f of unique.values()) {
      const filled = fill(f.numbers, valueOf);
      const plain = filled === f.formula || /^[A-Za-z_][A-Za-z0-9_]*$/.test(f.formula);
      lines.push((lines.length ? "    " : "") + `${f.label} = ${f.formula}${plain ? "" : " = " + filled} = ${fmt(valueOfFactor(f))}`);
    }
    return lines;
  }

  // ------------------------------------------------------------------ reading and checking answers
  const DASHES = /[\u2212\u2013\u2012\u2014\ufe63\uff0d]/g;
  const DECIMAL = /^[+-]?(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?$/;
  const EXAMPLES = `type a number such as 0.25, ${MINUS}1.5, 1/4 or 2.5e-1`;
  let TOL = {rel: 0.005, rounded: 0.025, close: 0.1, max_chars: 64};

  function decimal(text) {
    const m = DECIMAL.exec(text);
    if (!m) return null;
    const frac = m[1] !== undefined ? (m[2] || "") : m[3];
    const exp = Math.max(-400, Math.min(400, parseInt(m[4] || "0", 10)));
    return {value: Number(text), decimals: frac.length - exp};
  }

  // practice.parse_answer: the same forms, the same messages; never evaluates the text
  function parseAnswer(raw) {
    raw = String(raw);
    if (raw.length > TOL.max_chars) throw new Error(`that answer is ${raw.length} characters long; ${EXAMPLES}`);
    const shown = `'${raw.trim()}'`;
    const t = raw.trim().replace(DASHES, "-");
    if (!t) throw new Error(`no answer given; ${EXAMPLES}`);
    if (/^[+-]?[0-9]+,[0-9]+$/.test(t)) throw new Error(`${shown}: write a decimal with a point (${t.replace(",", ".")}), not a comma`);
    if (["inf", "infinity", "nan"].includes(t.toLowerCase().replace(/^[+-]+/, ""))) throw new Error(`${shown}: every answer here is a finite number; ${EXAMPLES}`);
    let value, decimals;
    if (t.includes("/")) {
      const i = t.indexOf("/");
      const top = t.slice(0, i).trim(), bottom = t.slice(i + 1).trim();
      const p = bottom.includes("/") ? null : decimal(top), q = bottom.includes("/") ? null : decimal(bottom);
      if (!p || !q) throw new Error(`${shown} is not a number; ${EXAMPLES}`);
      if (!Number.isFinite(p.value) || !Number.isFinite(q.value)) throw new Error(`${shown} is too large; ${EXAMPLES}`);
      if (q.value === 0) throw new Error(`${shown}: a fraction cannot divide by 0`);
      value = p.value / q.value;
      decimals = null;
    } else {
      const d = decimal(t);
      if (!d) throw new Error(`${shown} is not a number; ${EXAMPLES}`);
      ({value, decimals} = d);
    }
    if (!Number.isFinite(value)) throw new Error(`${shown} is too large; ${EXAMPLES}`);
    return {value, decimals};
  }

  // practice.check_answer
  function checkAnswer(text, truth) {
    const p = parseAnswer(text);
    const a = p.value, t = truth, err = Math.abs(a - t);
    const v = (ok, note) => ({ok, note: note || "", given: a, truth: t});
    if (err <= 1e-9 * Math.max(1, Math.abs(t)) || (t !== 0 && err <= TOL.rel * Math.abs(t))) return v(true);
    if (p.decimals !== null && err <= 0.5 * Math.pow(10, -p.decimals) * (1 + 1e-9) &&
        (t === 0 || err <= TOL.rounded * Math.abs(t))) return v(true, "rounded");
    if (t !== 0 && Math.abs(a + t) <= TOL.rel * Math.abs(t)) return v(false, "sign");
    if (t !== 0 && err <= TOL.close * Math.abs(t)) return v(false, "close");
    return v(false);
  }
  const NOTES = {sign: "the size is right but the sign is not",
                 close: "close, but not within half a percent: keep three significant digits (or give a fraction)"};

  // ------------------------------------------------------------------ the component
  let uid = 0;
  function Practice(host, config) {
    this.host = host;
    this.data = config.data;
    TOL = this.data.tol;
    this.id = `crp-practice-${++uid}`;
    const first = Number.isInteger(config.seed) ? config.seed : Math.floor(Math.random() * 1e6);
    host.classList.add("crq");
    host.innerHTML = `
      <section class="crq-box" aria-labelledby="${this.id}-h">
        <h2 id="${this.id}-h" class="crq-h">Practice: work it out, then check</h2>
        <div class="crq-controls" role="group" aria-label="which problem">
          <label>Kind <select name="kind">
            <option value="">any</option>${this.data.kinds.map((k) => `<option value="${esc(k)}">${esc(k)}</option>`).join("")}
          </select></label>
          <label>Seed <input name="seed" type="number" min="0" max="4294967295" step="1" inputmode="numeric" value="${first}"></label>
          <button type="button" class="crq-btn" data-act="new">New problem</button>
          <button type="button" class="crq-btn" data-act="next">Next seed</button>
        </div>
        <div class="crq-problem" aria-live="polite"></div>
      </section>`;
    // No <form> submits anywhere: a sandboxed iframe without allow-forms never fires "submit".
    const seedBox = host.querySelector("input[name=seed]");
    host.querySelector("[data-act=new]").addEventListener("click", () => this.show());
    seedBox.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); this.show(); } });
    host.querySelector("[data-act=next]").addEventListener("click", () => {
      seedBox.value = String(((parseInt(seedBox.value, 10) || 0) + 1) % 4294967296);
      this.show();
    });
    if (config.problem_kind) host.querySelector("select[name=kind]").value = config.problem_kind;
    this.show();
  }

  Practice.prototype.show = function () {
    const seedBox = this.host.querySelector("input[name=seed]");
    let seed = parseInt(seedBox.value, 10);
    if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) seed = 0;
    seedBox.value = String(seed);
    const p = this.problem = generate(this.data, this.host.querySelector("select[name=kind]").value || null, seed);
    const T = p.template;
    const given = Object.entries(p.inputs).map(([k, v]) => `${esc(k)} = ${esc(fmt(v))}`).join(", ") +
                  (p.lr !== null ? `, learning rate lr = ${esc(fmt(p.lr))}` : "");
    const box = this.host.querySelector(".crq-problem");
    box.innerHTML = `
      <h3 class="crq-title">${esc(T.title)} <span class="crq-muted">(kind ${esc(p.kind)}, seed ${seed}: <code>chainrule practice --kind ${esc(p.kind)} --seed ${seed}</code>)</span></h3>
      <p>${esc(T.story)}</p>
      <pre class="crq-program" aria-label="the program">${esc(T.shown)}</pre>
      <p class="crq-given">with ${given}</p>
      <p class="crq-muted">Answer with a number (${MINUS}0.5, .25, 2.5e-1) or a fraction (1/4); Enter checks.</p>
      <ol class="crq-qs">${T.asks.map((a, i) => `
        <li class="crq-q" data-key="${esc(a.key)}">
          <div class="crq-answer" data-i="${i}">
            <label for="${this.id}-a${i}">${esc(a.prompt)}</label>
            <span class="crq-row"><input id="${this.id}-a${i}" name="answer" autocomplete="off" autocapitalize="off" spellcheck="false" inputmode="text" aria-describedby="${this.id}-f${i}">
            <button type="button" class="crq-btn" data-act="check">Check</button></span>
          </div>
          <div id="${this.id}-f${i}" class="crq-feedback" role="status" aria-live="polite"></div>
        </li>`).join("")}</ol>
      <p class="crq-score" role="status" aria-live="polite"></p>`;
    this.right = new Set();
    box.querySelectorAll(".crq-answer").forEach((f) => {
      const i = parseInt(f.dataset.i, 10);
      f.querySelector("[data-act=check]").addEventListener("click", () => this.check(i));
      f.querySelector("input").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); this.check(i); } });
    });
  };

  Practice.prototype.check = function (i) {
    const p = this.problem, ask = p.template.asks[i];
    const li = this.host.querySelectorAll(".crq-q")[i];
    const input = li.querySelector("input"), out = li.querySelector(".crq-feedback");
    let v;
    try {
      v = checkAnswer(input.value, p.answers[ask.key]);
    } catch (e) {
      li.dataset.state = "unread";
      out.innerHTML = `<p class="crq-bad">Not read: ${esc(e.message)}</p>`;
      input.setAttribute("aria-invalid", "true");
      return v;
    }
    input.removeAttribute("aria-invalid");
    if (v.ok) {
      li.dataset.state = "right";
      this.right.add(i);
      out.innerHTML = `<p class="crq-good"><span aria-hidden="true">✓</span> Right${v.note === "rounded" ? ` (exactly ${esc(fmt(v.truth))})` : ""}.</p>`;
      const next = this.host.querySelectorAll(".crq-q")[i + 1];
      if (next) next.querySelector("input").focus();
    } else {
      li.dataset.state = "wrong";
      const note = NOTES[v.note];
      const hint = p.template.hint ? `${p.template.hint}\n` : "";
      out.innerHTML = `<p class="crq-bad"><span aria-hidden="true">✗</span> Not ${esc(fmt(v.given))}${note ? `: ${esc(note)}` : ""}. The worked step:</p>
        <pre class="crq-worked">${esc(hint + worked(p, ask).join("\n"))}</pre>
        <p class="crq-slip"><strong>Why this slip is common:</strong> ${esc(ask.slip)}</p>`;
    }
    const n = p.template.asks.length;
    this.host.querySelector(".crq-score").textContent = this.right.size === n
      ? `All ${n} right. “Next seed” gives a fresh problem.` : `${this.right.size} of ${n} right so far.`;
    return v;
  };

  function mount(host, config) {
    if (host._crq) return host._crq;
    host._crq = new Practice(host, config);
    return host._crq;
  }

  // Every <div data-chainrule-lab=KIND> not mounted yet, with its JSON data child (practice.fragment).
  function mountHosts(kind, make) {
    if (typeof document === "undefined") return [];
    const out = [];
    for (const host of document.querySelectorAll(`[data-chainrule-lab="${kind}"]`)) {
      if (host._crq || host._crc || host._chainruleLab) continue;
      const script = host.querySelector('script[type="application/json"]');
      if (!script) continue;
      try {
        out.push(make(host, JSON.parse(script.textContent)));
      } catch (err) {
        host.textContent = `This exercise could not start: ${err.message}`;
      }
    }
    return out;
  }
  function whenReady(fn) {
    if (typeof document === "undefined") return;
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  root.ChainrulePractice = {mount, generate, worked, parseAnswer, checkAnswer, Rng, fill, mountHosts, whenReady};
  if (root.ChainruleLab && root.ChainruleLab.KINDS) root.ChainruleLab.KINDS.practice = (host, data) => mount(host, data);
  whenReady(() => mountHosts("practice", mount));
})(typeof window !== "undefined" ? window : globalThis);
