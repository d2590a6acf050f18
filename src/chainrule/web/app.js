// chainrule web app: the page's behaviour. Plain DOM, no libraries, no network beyond this server.
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  };

  // Numbers as chainrule.numfmt writes them (the player's fmt: one policy for every view);
  // the server sends "inf"/"nan" for non-finite ones.
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string") return { "-inf": "−inf" }[v] || v;
    if (Array.isArray(v)) return "[" + v.map(fmt).join(", ") + "]";
    return ChainrulePlayer.fmt(v);
  }

  const state = {
    inputs: [],          // the program's free names, in first-use order
    values: {},          // name -> text typed in its field (kept when the program changes)
    exact: {},           // name -> number set by a step (the field shows it rounded)
    learn: {},           // name -> whether a step may change it (kept while editing; reset when the
                         // lesson menu switches programs: a program starts from its own ticks)
    lesson: null,        // the picked lesson's data, or null
    history: [],         // loss after each step, starting with the loss before the first
    startValues: null,   // values before the first step (for Reset)
    seq: 0,              // request counter: only the newest answer is shown
    explainTimer: 0,
    parseTimer: 0,
  };

  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data;
    try { data = await r.json(); } catch (e) { data = { error: `the server answered ${r.status} without JSON` }; }
    return { ok: r.ok, status: r.status, data };
  }

  // ------------------------------------------------------------------ editor
  const program = $("#program");
  const gutter = $("#gutter");
  const backdrop = $("#backdrop");
  const errBox = $("#program-error");
  const statusLine = $("#program-status");

  function drawEditor(err) {
    state.err = err;
    const lines = program.value.split("\n");
    program.style.height = "";
    const rows = Math.max(6, lines.length);
    const lh = parseFloat(getComputedStyle(program).lineHeight) || 22;
    program.style.height = rows * lh + 20 + (program.scrollWidth > program.clientWidth ? 14 : 0) + "px";
    gutter.replaceChildren(...Array.from({ length: rows }, (_, i) =>
      el("div", { class: err && err.line === i + 1 ? "bad" : null, text: String(i + 1) })));
    backdrop.replaceChildren(...lines.map((text, i) => {
      const line = el("div", { class: "line" });
      if (err && err.line === i + 1) {
        line.classList.add("bad");
        const c = Math.max(0, Math.min((err.column || 1) - 1, text.length));
        line.append(text.slice(0, c), el("mark", { text: text.slice(c, c + 1) || " " }), text.slice(c + 1));
      } else {
        line.textContent = text || " ";
      }
      return line;
    }));
    $("#editor").classList.toggle("has-error", !!(err && err.line));
  }

  program.addEventListener("scroll", () => {
    backdrop.style.transform = `translateX(${-program.scrollLeft}px)`;
  });

  function showProgramError(data) {
    const line = data.line, col = data.column;
    errBox.hidden = false;
    errBox.querySelector(".where").textContent =
      line ? `Line ${line}, column ${col || 1}` : "The program cannot run";
    const src = program.value.split("\n")[(line || 1) - 1];
    const snippet = errBox.querySelector(".snippet");
    if (line && src !== undefined) {
      const n = String(line);
      snippet.hidden = false;
      snippet.textContent = `${n} | ${src}\n${" ".repeat(n.length)} | ${" ".repeat(Math.max(0, (col || 1) - 1))}^`;
    } else {
      snippet.hidden = true;
    }
    const msg = data.detail || data.error;
    const cut = msg.indexOf("; a program may use");
    const msgBox = errBox.querySelector(".msg");
    msgBox.replaceChildren(cut > 0 ? msg.slice(0, cut) : msg);
    if (cut > 0) msgBox.append(el("span", { class: "hint-more", text: "A" + msg.slice(cut + 3) + "." }));
    markStale(true);
    statusLine.textContent = "✗ " + (line ? `error on line ${line}` : "error");
    statusLine.className = "status bad";
    drawEditor(line ? { line, column: col } : null);
  }

  function clearProgramError() {
    errBox.hidden = true;
    drawEditor(null);
  }

  // Results of an earlier program stay on screen while the new one has an error, greyed out.
  function markStale(stale) {
    for (const id of ["#result", "#chains", "#player", "#explanation"]) $(id).classList.toggle("stale", stale);
  }

  // ------------------------------------------------------------------ inputs
  const inputsBox = $("#inputs");

  function buildInputs(names) {
    state.inputs = names;
    if (!names.length) {
      inputsBox.replaceChildren(el("p", { class: "muted empty", text: "This program has no inputs." }));
      return;
    }
    inputsBox.replaceChildren(...names.flatMap((name) => {
      if (!(name in state.learn)) state.learn[name] = PARAM_NAME.test(name) || !names.some((n) => PARAM_NAME.test(n));
      const shown = name in state.exact ? plain(state.exact[name]) : state.values[name] ?? "";
      const field = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", "data-name": name,
                                  id: `in-${name}`, placeholder: "a number", value: shown,
                                  title: name in state.exact ? String(state.exact[name]) : null });
      field.addEventListener("input", () => {
        delete state.exact[name];
        state.values[name] = field.value;
        field.classList.toggle("invalid", field.value.trim() !== "" && !isNum(field.value));
        scheduleExplain();
      });
      const box = el("input", { type: "checkbox", "data-learn": name, checked: state.learn[name] });
      box.addEventListener("change", () => { state.learn[name] = box.checked; });
      return [el("label", { class: "name", for: `in-${name}`, text: name }), field,
              el("label", { class: "learn" }, box, "learn")];
    }));
  }

  const isNum = (s) => s.trim() !== "" && Number.isFinite(Number(s));
  // A value after a step, as typed text: 6 significant digits (the exact number is kept aside).
  const plain = (v) => String(Number(v.toPrecision(6)));
  // Names that look like parameters (w1, b, theta): what a step updates by default; data (x, y) stays.
  // The same rule as chainrule.viz.html.guess_params.
  const PARAM_NAME = /^(w|b|W|B|theta|θ|weight|bias|param|p)(\d|_|$)/;

  function currentValues() {
    const at = {}, missing = [], bad = [];
    for (const name of state.inputs) {
      if (name in state.exact) { at[name] = state.exact[name]; continue; }
      const s = state.values[name] ?? "";
      if (s.trim() === "") missing.push(name);
      else if (!isNum(s)) bad.push(name);
      else at[name] = Number(s);
    }
    return { at, missing, bad };
  }

  // ------------------------------------------------------------------ parse and explain
  function scheduleParse() {
    clearTimeout(state.parseTimer);
    state.parseTimer = setTimeout(parseNow, 180);
  }

  function scheduleExplain() {
    clearTimeout(state.explainTimer);
    state.explainTimer = setTimeout(explainNow, 180);
  }

  async function parseNow() {
    const seq = ++state.seq;
    const { ok, data } = await post("api/parse", { program: program.value });
    if (seq !== state.seq) return;
    if (!ok) {
      showProgramError(data);
      return;
    }
    clearProgramError();
    buildInputs(data.inputs);
    statusLine.textContent = `✓ output ${data.output}` + (data.inputs.length ? ` · inputs ${data.inputs.join(", ")}` : "");
    statusLine.className = "status ok";
    await explainNow();
  }

  async function explainNow() {
    const { at, missing, bad } = currentValues();
    const banner = $("#result-error");
    if (missing.length || bad.length) {
      banner.hidden = false;
      banner.textContent = missing.length
        ? `Give ${missing.join(", ")} ${missing.length === 1 ? "a value" : "values"} to run the program.`
        : `${bad.join(", ")}: not a number.`;
      markStale(true);
      return;
    }
    const seq = ++state.seq;
    document.body.classList.add("waiting");
    const body = { program: program.value, at };
    if (state.lesson) {   // the lesson's program, untouched: its chains, and its words for the player
      body.lesson = state.lesson.name;
      if (state.lesson.wrt && state.lesson.wrt.length) body.wrt = state.lesson.wrt;
    }
    const { ok, data } = await post("api/explain", body);
    document.body.classList.remove("waiting");
    if (seq !== state.seq) return;
    if (!ok) {
      if (data.line) { showProgramError(data); banner.hidden = true; }
      else { banner.hidden = false; banner.textContent = data.error; markStale(true); }
      return;
    }
    banner.hidden = true;
    clearProgramError();
    markStale(false);
    state.output = data.output;
    statusLine.textContent = `✓ ${data.output} = ${fmt(data.value)}`;
    statusLine.className = "status ok";
    renderResult(data);
    renderChains(data);
    renderPlayer(data);
    $("#explanation").textContent = data.text || "";
  }

  // ------------------------------------------------------------------ views
  const sub = (s) => s; // labels arrive already written (∂L/∂w₁)

  function renderResult(data) {
    const out = data.output;
    const inputs = new Set(Object.keys(data.grads));
    const names = [...inputs, ...Object.keys(data.values).filter((n) => !inputs.has(n))];
    const grads = data.all_grads || data.grads;
    const rows = names.map((name) =>
      el("tr", { "data-name": name, class: inputs.has(name) ? "is-input" : null },
        el("td", { class: "name" }, el("code", { text: name }), inputs.has(name) ? el("span", { class: "tag", text: "input" }) : null),
        el("td", { class: "num val", text: fmt(data.values[name]) }),
        el("td", { class: "num grad", "data-grad": name, text: name === out ? "1" : fmt(grads[name]) })));
    const box = $("#result");
    const parts = [el("p", { class: "headline" }, `${out} = `, el("span", { class: "num", id: "output-value", text: fmt(data.value) }))];
    if (inputs.size) {
      parts.push(el("table", { id: "grads" },
        el("thead", {}, el("tr", {}, el("th", { text: "variable" }), el("th", { class: "num", text: "value" }),
                                       el("th", { class: "num math-head", text: `∂${out}/∂·` }))),
        el("tbody", {}, ...rows)));
    } else {
      parts.push(el("p", { class: "muted", text: `${out} is a constant: it has no inputs to differentiate.` }));
    }
    const warnings = (data.trace && data.trace.warnings) || [];
    for (const w of warnings) parts.push(el("p", { class: "warning", text: w }));
    box.replaceChildren(...parts);
  }

  function renderChains(data) {
    const box = $("#chains");
    const chains = (data.explanation && data.explanation.chains) || [];
    if (!chains.length) {
      const lines = Object.values(data.chains || {});
      box.replaceChildren(...(lines.length ? lines.map((t) => el("p", { class: "chain-line", text: t }))
                                           : [el("p", { class: "muted", text: "No gradients to explain." })]));
      return;
    }
    box.replaceChildren(...chains.map((c) => {
      const head = el("div", { class: "chain-head" }, `∂${data.output}/∂${c.wrt} = `,
        el("span", { class: "grad", text: fmt(c.grad) }));
      const n = c.path_count ?? (c.paths || []).length;
      if (n > 1) head.append(el("span", { class: "paths", text: `sum over ${n} paths` }));
      const paths = (c.paths || []).map((p) => {
        const row = el("div", { class: "path" });
        (p.factors || []).forEach((f, i) => {
          if (i) row.append(el("span", { class: "times", text: "·" }));
          row.append(el("div", { class: "factor", title: f.formula || "" },
            el("div", { class: "lab", text: sub(f.label) }),
            f.formula ? el("div", { class: "f", text: f.formula }) : null,
            el("div", { class: "v", text: fmt(f.value) })));
        });
        row.append(el("span", { class: "equals", text: "=" }), el("span", { class: "product", text: fmt(p.product) }));
        return row;
      });
      const line = data.chains && data.chains[c.wrt];
      const parts = [head, ...paths];
      if (c.summarised) parts.push(el("p", { class: "sum-note", text: `showing ${paths.length} of ${n} paths` }));
      if (line) parts.push(el("p", { class: "chain-line", text: line }));
      return el("div", { class: "chain", "data-wrt": c.wrt }, ...parts);
    }));
  }

  // The player from chainrule.viz when it is there; otherwise two plain tables.
  function renderPlayer(data) {
    const host = $("#player");
    const P = window.ChainrulePlayer;
    if (state.player) { state.player.destroy(); state.player = null; }
    if (P && data.player) {
      host.replaceChildren();
      try {
        // the page's own Inputs card and Step button drive it: the player shows no second set
        state.player = P.mount(host, { ...data.player, trace: data.trace }, { controls: false });
        return;
      } catch (e) {
        console.error("the player could not start; showing tables", e);
      }
    }
    const t = data.trace;
    const label = (id) => t.nodes[id].label;
    const fwd = el("table", { class: "trace-table" }, el("caption", { text: "Forward: compute each value" }),
      el("thead", {}, el("tr", {}, el("th", { text: "node" }), el("th", { text: "computed as" }), el("th", { text: "value" }))),
      el("tbody", {}, ...t.forward.map((s) => el("tr", {},
        el("td", { text: label(s.node) }), el("td", { text: t.nodes[s.node].expr }),
        el("td", { class: "num val", text: fmt(s.value) })))));
    const bwd = el("table", { class: "trace-table" }, el("caption", { text: "Backward: incoming gradient × local derivative" }),
      el("thead", {}, el("tr", {}, el("th", { text: "node" }), el("th", { text: "incoming" }), el("th", { text: "to input" }),
        el("th", { text: "local" }), el("th", { text: "contribution" }))),
      el("tbody", {}, ...t.backward.flatMap((s) => s.locals.map((l) => el("tr", {},
        el("td", { text: label(s.node) }), el("td", { class: "num grad", text: fmt(s.incoming) }),
        el("td", { text: label(l.input) }), el("td", { text: `${l.formula} = ${fmt(l.local)}` }),
        el("td", { class: "num grad", text: fmt(l.contribution) }))))));
    host.replaceChildren(el("div", { class: "scroll-x" }, fwd), el("div", { class: "scroll-x" }, bwd));
  }

  // ------------------------------------------------------------------ step
  async function step() {
    const { at, missing, bad } = currentValues();
    const box = $("#step-result");
    if (missing.length || bad.length) {
      box.replaceChildren(el("p", { class: "error", text: "Give every input a number first." }));
      return;
    }
    const lrText = $("#lr").value.trim();
    if (!isNum(lrText) || Number(lrText) <= 0) {
      box.replaceChildren(el("p", { class: "error", text: "The learning rate η must be a positive number, e.g. 0.1." }));
      return;
    }
    const lr = Number(lrText);
    const params = state.inputs.filter((n) => state.learn[n]);
    if (!params.length) {
      box.replaceChildren(el("p", { class: "error", text: "Tick learn for at least one input." }));
      return;
    }
    const seq = ++state.seq;
    const { ok, data } = await post("api/step", { program: program.value, at, lr, params });
    if (seq !== state.seq) return;
    if (!ok) {
      box.replaceChildren(el("p", { class: "error", text: data.error }));
      return;
    }
    if (!state.startValues) state.startValues = { values: { ...state.values }, exact: { ...state.exact } };
    if (!state.history.length) state.history.push(data.before.value);
    const before = data.before.value, after = data.after.value;
    const rows = data.params.map((n) => el("tr", {},
      el("td", {}, el("code", { text: n })),
      el("td", { class: "num val", text: fmt(data.before.at[n]) }),
      el("td", { class: "num grad", text: fmt(data.grads[n]) }),
      el("td", { class: "num val", "data-new": n, text: fmt(data.after.at[n]) })));
    const parts = [el("div", { class: "scroll-x" }, el("table", { class: "step-table" },
      el("thead", {}, el("tr", {}, el("th", { text: "param" }), el("th", { class: "num", text: "before" }),
        el("th", { class: "num math-head", text: `∂${data.output}/∂p` }), el("th", { class: "num", text: "after" }))),
      el("tbody", {}, ...rows)))];
    if (after === null) {
      parts.push(el("p", { class: "error", text: data.after.error }));
    } else {
      state.history.push(after);
      const down = after < before;
      parts.push(el("p", { class: "loss-line" }, `${data.output}: `,
        el("span", { id: "loss-before", text: fmt(before) }), " → ",
        el("span", { id: "loss-after", class: down ? "down" : "up", text: fmt(after) }),
        el("span", { class: down ? "down" : "up", text: down ? "  ▼ fell" : "  ▲ rose (try a smaller η)" })));
      parts.push(sparkline(state.history));
      for (const n of data.params) state.exact[n] = data.after.at[n];
      buildInputs(state.inputs);
      $("#reset").disabled = false;
    }
    box.replaceChildren(...parts);
    if (after !== null) await explainNow();
  }

  function sparkline(ys) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 300 56");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${state.history.length - 1} steps of the loss: ${ys.map(fmt).join(", ")}`);
    const lo = Math.min(...ys), hi = Math.max(...ys), span = hi - lo || 1;
    const pts = ys.map((y, i) => [6 + (ys.length > 1 ? i * 288 / (ys.length - 1) : 144), 50 - 44 * (y - lo) / span]);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.map((p) => p.join(",")).join(" "));
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(line);
    for (const [x, y] of pts) {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", x); dot.setAttribute("cy", y); dot.setAttribute("r", 2.5);
      svg.append(dot);
    }
    return el("figure", { class: "spark-box" }, svg,
      el("figcaption", { text: `${state.output || "loss"} after each step: ${ys.map(fmt).join(" → ")}` }));
  }

  function resetSteps() {
    if (state.startValues) { state.values = state.startValues.values; state.exact = state.startValues.exact; }
    state.startValues = null;
    state.history = [];
    $("#step-result").replaceChildren();
    $("#reset").disabled = true;
    buildInputs(state.inputs);
    explainNow();
  }

  // ------------------------------------------------------------------ lessons
  async function loadLessons() {
    const r = await fetch("api/lessons");
    if (!r.ok) return;
    const { lessons } = await r.json();
    const select = $("#lesson");
    for (const l of lessons) select.append(el("option", { value: l.name, text: l.title || l.name }));
  }

  async function pickLesson(name) {
    const note = $("#lesson-note");
    state.history = [];
    state.startValues = null;
    $("#step-result").replaceChildren();
    $("#reset").disabled = true;
    if (!name) {   // your own program: the lesson's ticks do not come along
      state.lesson = null; note.hidden = true; state.learn = {};
      buildInputs(state.inputs);
      return;
    }
    const r = await fetch(`api/lessons/${encodeURIComponent(name)}`);
    if (!r.ok) return;
    const lesson = await r.json();
    state.lesson = lesson;
    program.value = lesson.program;
    state.values = {};
    state.exact = {};
    for (const [k, v] of Object.entries(lesson.inputs || {})) state.values[k] = String(v);
    state.learn = {};   // the lesson's params, or (none given) the parameter-looking names
    if (Array.isArray(lesson.params)) {
      for (const k of Object.keys(lesson.inputs || {})) state.learn[k] = lesson.params.includes(k);
    }
    $("#lr").value = lesson.lr ?? 0.1;
    note.hidden = false;
    note.replaceChildren(
      el("span", { class: "seed", text: lesson.seed ? `Seed ${lesson.seed} · ${lesson.seed_title}` : lesson.seed_title }),
      lesson.intro ? el("span", { class: "intro", text: lesson.intro }) : null,
      lesson.note ? el("span", { class: "intro", text: lesson.note }) : null);
    clearTimeout(state.parseTimer);
    await parseNow();
  }

  // ------------------------------------------------------------------ wiring
  program.addEventListener("input", () => {
    if (state.lesson && $("#lesson").value) { $("#lesson").value = ""; state.lesson = null; $("#lesson-note").hidden = true; }
    drawEditor(null);
    scheduleParse();
  });
  program.addEventListener("keydown", (e) => {   // Tab indents instead of leaving the editor
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      program.setRangeText("    ", program.selectionStart, program.selectionEnd, "end");
      program.dispatchEvent(new Event("input"));
    }
  });
  $("#lesson").addEventListener("change", (e) => pickLesson(e.target.value));
  $("#step").addEventListener("click", step);
  $("#reset").addEventListener("click", resetSteps);
  $("#lr").addEventListener("input", () => $("#lr").classList.toggle("invalid", !isNum($("#lr").value)));
  window.addEventListener("resize", () => drawEditor(state.err));

  state.values = { x: "2" };
  drawEditor(null);
  loadLessons();
  parseNow();
})();
