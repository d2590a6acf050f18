/* chainrule book: starts the page's components and keeps their state in the URL fragment.
 *
 *   players      ChainrulePlayer.mount(host, data) for every player block (keys act only
 *                when the player has focus, so several components share one page)
 *   practice     the reader's number against the engine's answer
 *   flashcards   show / hide an answer, all answers, print the deck
 *   chapters     the ## sections after a chapter block, one at a time: Play or Space
 *   URL state    #ID.step=9&ID.w1=1.7&ID.node=w1&ID.wrt=w1 (players), #ID.chapter=3 (chapters):
 *                a link to that fragment opens the page in that state
 * No network, no storage: everything the page needs is in it.
 */
(function () {
  "use strict";
  const MINUS = "\u2212";
  const data = (el) => {
    const s = el.querySelector(":scope > script.cr-data, script.cr-data");
    return s ? JSON.parse(s.textContent) : {};
  };

  // ------------------------------------------------------------------ URL fragment state
  const state = {
    read() {
      const h = decodeURIComponent(location.hash.slice(1));
      if (!h.includes("=")) return new Map();
      return new Map(h.split("&").filter((p) => p.includes("=")).map((p) => {
        const i = p.indexOf("=");
        return [p.slice(0, i), p.slice(i + 1)];
      }));
    },
    write(id, values) {   // values: {key: string | null}; null removes
      const m = this.read();
      for (const k of [...m.keys()]) if (k.startsWith(id + ".")) m.delete(k);
      for (const [k, v] of Object.entries(values)) if (v !== null && v !== undefined) m.set(`${id}.${k}`, String(v));
      const text = [...m].map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2C/g, ",")}`).join("&");
      const url = location.pathname + location.search + (text ? "#" + text : "");
      if (url !== location.pathname + location.search + location.hash) history.replaceState(null, "", url);
    },
    of(id) {
      const out = {};
      for (const [k, v] of this.read()) if (k.startsWith(id + ".")) out[k.slice(id.length + 1)] = v;
      return out;
    },
  };
  const num = (s) => {
    const v = parseFloat(String(s).replace(/\u2212/g, "-").replace(/\s/g, ""));
    return Number.isFinite(v) ? v : null;
  };
  const short = (v) => String(+v.toPrecision(10));

  // ------------------------------------------------------------------ players
  function startPlayer(block) {
    const host = block.querySelector(".cr-player-host");
    if (!host || !window.ChainrulePlayer) return;
    const id = block.dataset.block;
    const p = window.ChainrulePlayer.mount(host, data(block), {keys: "focus"});
    block._player = p;
    let restoring = false;
    const save = () => {
      if (restoring) return;
      const out = {};
      if (p.k) out.step = p.k + 1;
      p.G.nodes.forEach((n) => {
        if (n.kind === "input" && p.leaf[n.id] !== p.initial[n.id]) out[n.label] = short(p.leaf[n.id]);
      });
      if (p.selected !== null && p.selected !== undefined) out.node = p.G.nodes[p.selected].label;
      if (p.wrt && p.wrt !== p.data.wrt) out.wrt = p.wrt;
      state.write(id, out);
    };
    const render = p.render.bind(p);
    p.render = () => { render(); save(); };
    const restore = () => {
      const s = state.of(id);
      restoring = true;
      try {
        const leaf = p.initial.slice();
        let moved = false;
        for (const [k, v] of Object.entries(s)) {
          const i = p.G.byLabel.get(k), x = num(v);
          if (i !== undefined && p.G.nodes[i].kind === "input" && x !== null) { leaf[i] = x; moved = true; }
        }
        if (moved || p.leaf.some((v, i) => v !== leaf[i])) p.setLeaves(leaf, true);
        if (s.wrt && p.chainFor(s.wrt)) p.wrt = s.wrt;
        const k = s.step ? Math.round(num(s.step)) - 1 : 0;
        p.k = Math.min(Math.max(0, Number.isFinite(k) ? k : 0), p.steps.length - 1);
        const node = s.node !== undefined ? p.G.byLabel.get(s.node) : undefined;
        if (node !== undefined) p.select(node); else { p.selected = null; p.render(); }
      } finally { restoring = false; }
    };
    block._restore = restore;
    restore();
  }

  // ------------------------------------------------------------------ practice
  function decimals(s) {
    const t = String(s).trim().replace(/\u2212/g, "-").toLowerCase();
    const [m, e] = t.split("e");
    return (m.split(".")[1] || "").length - (e ? parseInt(e, 10) : 0);
  }
  function startPractice(block) {
    const d = data(block), form = block.querySelector("form"), box = block.querySelector(".cr-feedback");
    if (!form) return;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const typed = block.querySelector(".cr-answer").value;
      const x = num(typed);
      if (x === null) { box.textContent = "Type a number (for example 1.56 or −0.3)."; box.dataset.result = "empty"; return; }
      const a = d.answer, tol = 0.5 * Math.pow(10, -decimals(typed)) * (1 + 1e-9);
      const rel = Math.abs(a) < 1e-12 ? Math.abs(x) < 1e-9 : Math.abs(x - a) / Math.abs(a) < 0.05;
      const ok = Math.abs(x - a) <= tol + 1e-12 && rel;
      box.dataset.result = ok ? "right" : "wrong";
      box.textContent = ok ? `✓ Right: ${d.what} = ${d.shown}.`
                           : `✗ Not yet: ${typed.trim()} is not ${d.what}. Check each factor, or open the worked chain.`;
    });
  }

  // ------------------------------------------------------------------ flashcards
  function startDeck(block) {
    block.addEventListener("click", (ev) => {
      const flip = ev.target.closest(".cr-flip");
      if (flip) {
        const a = document.getElementById(flip.getAttribute("aria-controls"));
        const open = flip.getAttribute("aria-expanded") !== "true";
        flip.setAttribute("aria-expanded", String(open));
        flip.textContent = open ? "Hide answer" : "Show answer";
        a.hidden = !open;
        return;
      }
      const tool = ev.target.closest("[data-deck]");
      if (!tool) return;
      if (tool.dataset.deck === "all") {
        const flips = [...block.querySelectorAll(".cr-flip")];
        const open = flips.some((f) => f.getAttribute("aria-expanded") !== "true");
        for (const f of flips) {
          f.setAttribute("aria-expanded", String(open));
          f.textContent = open ? "Hide answer" : "Show answer";
          document.getElementById(f.getAttribute("aria-controls")).hidden = !open;
        }
        tool.textContent = open ? "Hide all answers" : "Show all answers";
      } else if (tool.dataset.deck === "print") {
        document.body.classList.add("cr-printing-cards");
        block.classList.add("cr-print-this");
        window.print();
        document.body.classList.remove("cr-printing-cards");
        block.classList.remove("cr-print-this");
      }
    });
  }

  // ------------------------------------------------------------------ chapters
  function startChapters(block) {
    const article = block.closest("article") || document;
    const chapters = [...article.querySelectorAll("section.cr-chapter")];
    const id = block.dataset.block, d = data(block);
    const counter = block.querySelector(".cr-ch-counter"), status = block.querySelector(".cr-ch-status");
    const play = block.querySelector('[data-ch="play"]');
    const links = [...block.querySelectorAll("[data-chapter]")];
    let k = -1, timer = null;
    const show = (i, quiet) => {
      k = Math.max(0, Math.min(chapters.length - 1, i));
      chapters.forEach((c, j) => { c.hidden = j !== k; c.classList.toggle("is-current", j === k); });
      links.forEach((a, j) => { if (j === k) a.setAttribute("aria-current", "step"); else a.removeAttribute("aria-current"); });
      counter.innerHTML = `Chapter ${k + 1} / <span class="cr-ch-total">${chapters.length}</span>`;
      const title = chapters[k].querySelector("h2");
      status.textContent = `${timer ? "Playing" : "Paused"}: ${title ? title.textContent : ""}.`;
      block.classList.add("is-on");
      if (!quiet) state.write(id, {chapter: k + 1});
    };
    const stop = () => {
      if (timer) clearInterval(timer);
      timer = null;
      play.textContent = "Play"; play.setAttribute("aria-pressed", "false");
      if (k >= 0) status.textContent = `Paused: ${chapters[k].querySelector("h2").textContent}. Space plays on.`;
    };
    const start = () => {
      if (k < 0 || k >= chapters.length - 1) show(k < 0 ? 0 : (k >= chapters.length - 1 ? 0 : k));
      timer = setInterval(() => { if (k >= chapters.length - 1) stop(); else show(k + 1); }, d.interval * 1000);
      play.textContent = "Pause"; play.setAttribute("aria-pressed", "true");
      show(k);
    };
    const toggle = () => (timer ? stop() : start());
    block.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-ch]"), a = ev.target.closest("[data-chapter]");
      if (a) { ev.preventDefault(); stop(); show(Number(a.dataset.chapter)); chapters[k].scrollIntoView({block: "start"}); return; }
      if (!b) return;
      if (b.dataset.ch === "play") toggle();
      else { stop(); show(b.dataset.ch === "next" ? k + 1 : k - 1); }
    });
    document.addEventListener("keydown", (e) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      const t = e.target;
      const free = !t || t === document.body || t === document.documentElement ||
                   (block.contains(t) && !t.closest("button, a, input"));
      const inChapter = t && chapters.some((c) => c.contains(t)) && !t.closest("button, a, input, select, textarea, [tabindex]");
      if (!free && !inChapter) return;
      if (e.key === " ") { e.preventDefault(); toggle(); }
      else if (e.key === "ArrowRight" && k >= 0) { e.preventDefault(); stop(); show(k + 1); }
      else if (e.key === "ArrowLeft" && k >= 0) { e.preventDefault(); stop(); show(k - 1); }
    });
    block._restore = () => {
      const s = state.of(id), c = s.chapter ? Math.round(num(s.chapter)) : NaN;
      if (Number.isFinite(c) && chapters.length) show(c - 1, true);
    };
    block._chapters = {show, start, stop, get k() { return k; }, get playing() { return !!timer; }};
    block._restore();
  }

  function start() {
    for (const b of document.querySelectorAll('[data-kind="player"]')) startPlayer(b);
    for (const b of document.querySelectorAll('[data-kind="practice"]')) startPractice(b);
    for (const b of document.querySelectorAll('[data-kind="flashcards"]')) startDeck(b);
    for (const b of document.querySelectorAll('[data-kind="chapters"]')) startChapters(b);
    for (const b of document.querySelectorAll("[data-print]")) b.addEventListener("click", () => window.print());
    window.addEventListener("hashchange", () => {
      for (const b of document.querySelectorAll("[data-block]")) if (b._restore) b._restore();
    });
    document.documentElement.classList.add("cr-js");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
  window.ChainruleBook = {state};
})();
