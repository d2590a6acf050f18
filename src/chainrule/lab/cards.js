/* chainrule cards: the flashcard deck quizzed in the page, progress kept in the browser.
 *
 * Reads chainrule.lab.cards.cards_data(): {cards: [{key, front, back, source}], storage_key, boxes}.
 * Scheduling here is Leitner boxes (data.boxes: the wait, in minutes, before a card in each box is due
 * again): again -> box 0, hard -> same box, good -> one box up, easy -> two up. (The terminal's
 * `chainrule cards` schedules with FSRS; the page keeps its own progress, in localStorage.)
 * Where storage is not allowed (a sandboxed iframe, private mode) progress lasts until the page
 * closes, and the page says so.
 *
 *   ChainruleCards.mount(element, data) -> component     (also ChainruleLab.KINDS.cards)
 */
(function (root) {
  "use strict";
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const RATINGS = [[1, "Again"], [2, "Hard"], [3, "Good"], [4, "Easy"]];
  const MINUTE = 60000;

  // Progress: localStorage when the page may use it, else memory (and say so).
  function openStore(key) {
    let mem = {};
    try {
      const ls = root.localStorage;
      const probe = key + ".probe";
      ls.setItem(probe, "1");
      ls.removeItem(probe);
      let saved = {};
      try { saved = JSON.parse(ls.getItem(key) || "{}") || {}; } catch (e) { saved = {}; }   // unreadable: start over
      return {persistent: true, all: () => saved,
              put: (k, v) => { saved[k] = v; try { ls.setItem(key, JSON.stringify(saved)); } catch (e) { /* full */ } },
              clear: () => { saved = {}; try { ls.removeItem(key); } catch (e) { /* gone */ } }};
    } catch (e) {
      return {persistent: false, all: () => mem, put: (k, v) => { mem[k] = v; }, clear: () => { mem = {}; }};
    }
  }

  function schedule(state, rating, now, boxes) {
    const box = state ? state.box : 0;
    const next = rating === 1 ? 0 : rating === 2 ? box : Math.min(boxes.length - 1, box + (rating === 4 ? 2 : 1));
    return {box: next, due: now + boxes[next] * MINUTE, reviews: (state ? state.reviews : 0) + 1,
            lapses: (state ? state.lapses : 0) + (rating === 1 ? 1 : 0), last: now};
  }

  function waitText(ms) {
    const m = ms / MINUTE;
    if (m < 1.5) return "in a minute";
    if (m < 90) return `in ${Math.round(m)} minutes`;
    if (m < 36 * 60) return `in ${Math.round(m / 60)} hours`;
    return `in ${Math.round(m / 1440)} days`;
  }

  let uid = 0;
  function Cards(host, data) {
    this.host = host;
    this.data = data;
    this.store = openStore(data.storage_key);
    this.now = data.now ? () => data.now : () => Date.now();
    this.id = `crc-${++uid}`;
    host.classList.add("crq");
    host.innerHTML = `
      <section class="crq-box crc" aria-labelledby="${this.id}-h">
        <h2 id="${this.id}-h" class="crq-h">Flashcards</h2>
        <p class="crq-muted crc-stats" role="status" aria-live="polite"></p>
        <p class="crq-muted crc-saved" role="status" aria-live="polite"></p>
        <p class="crq-note crc-storage" ${this.store.persistent ? "hidden" : ""}>This page may not keep data here
          (storage is blocked, e.g. in a sandboxed frame): your progress lasts until the page is closed.</p>
        <div class="crc-card" aria-live="polite"></div>
        <p class="crq-muted">Keys: Space or Enter shows the answer; 1 again, 2 hard, 3 good, 4 easy.</p>
        <p><button type="button" class="crq-btn crq-quiet" data-act="reset">Reset progress</button></p>
      </section>`;
    host.querySelector("[data-act=reset]").addEventListener("click", (e) => this.reset(e.currentTarget));
    host.addEventListener("keydown", (e) => this.key(e));
    this.next();
  }

  Cards.prototype.queue = function () {
    const now = this.now(), all = this.store.all();
    const due = this.data.cards.filter((c) => all[c.key] && all[c.key].due <= now)
      .sort((a, b) => all[a.key].due - all[b.key].due);
    const fresh = this.data.cards.filter((c) => !all[c.key]);
    return {due, fresh, all, now};
  };

  Cards.prototype.stats = function (q) {
    const seen = Object.keys(q.all).filter((k) => this.data.cards.some((c) => c.key === k));
    const reviews = seen.reduce((s, k) => s + q.all[k].reviews, 0);
    const lapses = seen.reduce((s, k) => s + q.all[k].lapses, 0);
    const kept = reviews ? ` · retention ${Math.round(100 * (reviews - lapses) / reviews)} %` : "";
    this.host.querySelector(".crc-stats").textContent =
      `${this.data.cards.length} cards: ${q.due.length} due now, ${q.fresh.length} new, ${reviews} review${reviews === 1 ? "" : "s"}${kept}`;
  };

  Cards.prototype.next = function () {
    const q = this.queue();
    this.stats(q);
    const card = q.due[0] || q.fresh[0];
    const box = this.host.querySelector(".crc-card");
    this.card = card || null;
    this.shown = false;
    if (!card) {
      const waits = Object.values(q.all).map((s) => s.due - q.now).filter((w) => w > 0);
      box.innerHTML = `<p class="crc-done">Nothing is due now${waits.length ? `; the next card is due ${esc(waitText(Math.min(...waits)))}` : ""}.</p>`;
      return;
    }
    box.innerHTML = `
      <article class="crc-face" aria-label="flashcard">
        <p class="crq-muted">${q.due[0] ? "due" : "new"} · from ${esc(card.source)}</p>
        <p class="crc-front">${esc(card.front)}</p>
        <div class="crc-back" hidden><p>${esc(card.back)}</p></div>
        <p><button type="button" class="crq-btn" data-act="show" aria-expanded="false">Show answer</button></p>
        <div class="crc-rate" role="group" aria-label="How well did you recall it?" hidden>
          ${RATINGS.map(([r, name]) => `<button type="button" class="crq-btn" data-rate="${r}"><kbd>${r}</kbd> ${name}</button>`).join("")}
        </div>
      </article>`;
    box.querySelector("[data-act=show]").addEventListener("click", () => this.show());
    box.querySelectorAll("[data-rate]").forEach((b) => b.addEventListener("click", () => this.rate(parseInt(b.dataset.rate, 10))));
  };

  Cards.prototype.show = function () {
    if (!this.card || this.shown) return;
    this.shown = true;
    const box = this.host.querySelector(".crc-card");
    box.querySelector(".crc-back").hidden = false;
    const btn = box.querySelector("[data-act=show]");
    btn.setAttribute("aria-expanded", "true");
    btn.hidden = true;
    box.querySelector(".crc-rate").hidden = false;
    box.querySelector("[data-rate='3']").focus();
  };

  Cards.prototype.rate = function (rating) {
    if (!this.card || !this.shown) return;
    const now = this.now();
    const state = schedule(this.store.all()[this.card.key], rating, now, this.data.boxes);
    this.store.put(this.card.key, state);
    this.host.querySelector(".crc-saved").textContent = `Saved (${RATINGS[rating - 1][1].toLowerCase()}): next review ${waitText(state.due - now)}.`;
    this.next();
    const show = this.host.querySelector("[data-act=show]");
    (show || this.host.querySelector("[data-act=reset]")).focus();
  };

  Cards.prototype.key = function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || (e.target && e.target.dataset && e.target.dataset.act === "reset")) return;
    if (!this.shown && (e.key === " " || e.key === "Enter") && this.card) {
      e.preventDefault();
      this.show();
    } else if (this.shown && /^[1-4]$/.test(e.key)) {
      e.preventDefault();
      this.rate(parseInt(e.key, 10));
    }
  };

  Cards.prototype.reset = function (btn) {
    if (btn.dataset.armed !== "1") {   // two presses: no confirm() (a sandboxed frame may block dialogs)
      btn.dataset.armed = "1";
      btn.textContent = "Press again to erase all progress";
      return;
    }
    btn.dataset.armed = "";
    btn.textContent = "Reset progress";
    this.store.clear();
    this.next();
  };

  function mount(host, data) {
    if (host._crc) return host._crc;
    host._crc = new Cards(host, data);
    return host._crc;
  }

  root.ChainruleCards = {mount, schedule, openStore};
  if (root.ChainruleLab && root.ChainruleLab.KINDS) root.ChainruleLab.KINDS.cards = (host, data) => mount(host, data);
  const P = root.ChainrulePractice;   // practice.js, loaded before this file (practice.practice_assets)
  if (P) P.whenReady(() => P.mountHosts("cards", mount));
})(typeof window !== "undefined" ? window : globalThis);
