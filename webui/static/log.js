/* Log viewer: ANSI colours, numbered lines with anchors, follow-tail, search, live lines.
 *
 * Every piece of log text reaches the page through textContent, never innerHTML, so HTML or
 * script in a log line is shown as text. The DOM keeps at most MAX_DOM lines: older lines are
 * dropped (the raw download has them all), so a huge or fast log cannot freeze the page.
 */
"use strict";

const MAX_DOM = 5000;
const FRAME_BUDGET = 500; // lines rendered per animation frame at most

/* Split one line into [text, state] pieces following SGR escape codes; drops other escapes. */
function ansiPieces(line, state) {
  const out = [];
  const re = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b./g;
  let last = 0;
  let m;
  while ((m = re.exec(line)) !== null) {
    if (m.index > last) out.push([line.slice(last, m.index), Object.assign({}, state)]);
    last = re.lastIndex;
    if (m[2] === "m") applySgr(state, m[1]);
  }
  if (last < line.length) out.push([line.slice(last), Object.assign({}, state)]);
  return out;
}

function applySgr(st, params) {
  const codes = params === "" ? [0] : params.split(";").map((p) => parseInt(p || "0", 10));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) { for (const k of Object.keys(st)) delete st[k]; }
    else if (c === 1) st.b = true;
    else if (c === 2) st.d = true;
    else if (c === 3) st.i = true;
    else if (c === 4) st.u = true;
    else if (c === 22) { delete st.b; delete st.d; }
    else if (c === 23) delete st.i;
    else if (c === 24) delete st.u;
    else if (c >= 30 && c <= 37) st.fg = c - 30;
    else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
    else if (c === 39) delete st.fg;
    else if (c >= 40 && c <= 47) st.bg = c - 40;
    else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
    else if (c === 49) delete st.bg;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
      st[c === 38 ? "fg" : "bg"] = color256(codes[i + 2] || 0);
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
      const rgb = codes.slice(i + 2, i + 5).map((v) => Math.max(0, Math.min(255, v || 0)));
      st[c === 38 ? "fg" : "bg"] = "rgb(" + rgb.join(",") + ")";
      i += 4;
    }
  }
}

function color256(n) {
  if (n < 16) return n;
  if (n >= 232) { const v = 8 + (n - 232) * 10; return "rgb(" + v + "," + v + "," + v + ")"; }
  n -= 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return "rgb(" + steps[Math.floor(n / 36)] + "," + steps[Math.floor(n / 6) % 6] + "," + steps[n % 6] + ")";
}

function renderText(span, line, state) {
  if (line.indexOf("\x1b") < 0 && !state.fg && !state.bg && !state.b && !state.d && !state.i && !state.u) {
    span.textContent = line;
    return;
  }
  for (const [text, st] of ansiPieces(line, state)) {
    const piece = document.createElement("span");
    piece.textContent = text;
    const cls = [];
    if (st.b) cls.push("ab");
    if (st.d) cls.push("ad");
    if (st.i) cls.push("ai");
    if (st.u) cls.push("au");
    if (typeof st.fg === "number") cls.push("f" + st.fg); else if (st.fg) piece.style.color = st.fg;
    if (typeof st.bg === "number") cls.push("b" + st.bg); else if (st.bg) piece.style.background = st.bg;
    if (cls.length) piece.className = cls.join(" ");
    span.appendChild(piece);
  }
}

/* The scrolling list of lines of one step. */
class LogView {
  constructor(box, opts) {
    this.box = box;
    this.opts = opts || {};
    this.next = 1; // number of the next line appended
    this.pending = [];
    this.dropped = 0; // lines never rendered or removed from the DOM
    this.ansi = {};
    this.follow = true;
    this.scheduled = false;
    this.hits = [];
    this.cur = -1;
    this.onchange = null;
    box.addEventListener("scroll", () => {
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
      if (this.follow !== atBottom && !this.autoScrolling) {
        this.follow = atBottom;
        if (this.onchange) this.onchange();
      }
      this.autoScrolling = false;
    });
  }

  start(firstLine) { this.next = firstLine; }

  /* Empty the view for another step's log (the reader's Follow choice stays). */
  reset() {
    this.box.textContent = "";
    this.next = 1;
    this.pending = [];
    this.dropped = 0;
    this.ansi = {};
    this.hits = [];
    this.cur = -1;
  }

  /* Queue ``lines`` for the next frame; ``skipped`` lines came before them and were only
   * counted (a flood), so what is shown restarts at the first of ``lines``. */
  append(lines, skipped) {
    if (skipped > 0) {
      this.next += this.pending.length + skipped;
      this.dropped = this.next - 1;
      this.pending = [];
      this.box.textContent = "";
      this.ansi = {};
      this.hits = [];
      this.cur = -1;
    }
    for (const l of lines) this.pending.push(l);
    if (this.pending.length > MAX_DOM) {
      const cut = this.pending.length - MAX_DOM;
      this.pending.splice(0, cut);
      this.next += cut;
      this.dropped += cut;
      this.ansi = {};
    }
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.scheduled = false;
    const batch = this.pending.splice(0, FRAME_BUDGET);
    const frag = document.createDocumentFragment();
    for (const line of batch) {
      const n = this.next++;
      const row = document.createElement("div");
      row.className = "ln";
      row.id = "L" + n;
      const a = document.createElement("a");
      a.href = "#L" + n;
      a.textContent = String(n);
      a.tabIndex = -1;
      const span = document.createElement("span");
      renderText(span, line, this.ansi);
      row.append(a, span);
      frag.appendChild(row);
    }
    this.box.appendChild(frag);
    const extra = this.box.childElementCount - MAX_DOM;
    if (extra > 0) {
      const range = document.createRange();
      range.setStartBefore(this.box.firstElementChild);
      range.setEndAfter(this.box.children[extra - 1]);
      range.deleteContents();
      this.dropped += extra;
    }
    if (this.follow) this.toBottom();
    if (this.onchange) this.onchange();
    if (this.pending.length && !this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  toBottom() {
    this.autoScrolling = true;
    this.box.scrollTop = this.box.scrollHeight;
  }

  /* Scroll the log box (not the page) so that ``row`` is in its middle. */
  reveal(row) {
    this.box.scrollTop = row.offsetTop - this.box.clientHeight / 2;
  }

  setFollow(on) {
    this.follow = on;
    if (on) this.toBottom();
  }

  search(query) {
    for (const el of this.hits) el.classList.remove("hit", "cur");
    this.hits = [];
    this.cur = -1;
    if (!query) return 0;
    const q = query.toLowerCase();
    for (const row of this.box.children) {
      if (row.lastChild.textContent.toLowerCase().indexOf(q) >= 0) {
        row.classList.add("hit");
        this.hits.push(row);
      }
    }
    return this.hits.length;
  }

  step(dir) {
    if (!this.hits.length) return;
    if (this.cur >= 0) this.hits[this.cur].classList.remove("cur");
    this.cur = (this.cur + dir + this.hits.length) % this.hits.length;
    const row = this.hits[this.cur];
    row.classList.add("cur");
    this.setFollow(false);
    this.reveal(row);
  }
}

/* The lines of a tail.json answer, the first marked when it is only the end of a line. */
function shownLines(data) {
  const lines = data.lines;
  if (data.truncated && lines.length) lines[0] = "\u2026" + lines[0];
  return lines;
}

/* Loads the tail of a step's log, then takes its live chunks as the page's live connection
 * (live.js) pushes them, each once and in order; polls tail.json instead while the server
 * admits no more live streams. */
class LogFollower {
  constructor(view, urls) {
    this.view = view;
    this.urls = urls;
    this.lastSeq = null;
    this.abort = new AbortController();
    this.ended = false;
  }

  async loadTail() {
    const res = await fetch(this.urls.tail, { credentials: "same-origin", signal: this.abort.signal });
    if (!res.ok) throw new Error("log tail: HTTP " + res.status);
    const data = await res.json();
    this.view.start(data.first_line || 1);
    if (data.first_line > 1) this.view.dropped = data.first_line - 1;
    this.view.append(shownLines(data));
    this.lastSeq = data.last_seq;
    if (data.done) this.ended = true;
    return data;
  }

  /* The chunk to resume after (-1: from the first). */
  resumeAfter() { return this.lastSeq === null || this.lastSeq === undefined ? -1 : this.lastSeq; }

  /* One look at the lines stored after the last chunk shown (tail.json?after=SEQ): how the
   * page follows a log while the server admits no more live streams. */
  async poll() {
    let url = this.urls.tail;
    if (this.lastSeq !== null && this.lastSeq !== undefined) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(this.lastSeq);
    }
    const res = await fetch(url, { credentials: "same-origin", signal: this.abort.signal });
    if (!res.ok) return;
    const data = await res.json();
    if (data.lines.length) {
      // Lines stored beyond the byte budget of one look are skipped and counted.
      const next = this.view.next + this.view.pending.length;
      this.view.append(shownLines(data), Math.max(0, data.first_line - next));
    }
    if (data.last_seq !== null && data.last_seq !== undefined) this.lastSeq = data.last_seq;
    if (data.done) this.ended = true;
  }

  /* Chunk ``seq`` arrived live: shown unless it was shown already. */
  push(seq, lines) {
    if (this.lastSeq !== null && this.lastSeq !== undefined && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.view.append(lines);
  }

  end() { this.ended = true; }

  stop() { this.abort.abort(); }
}

window.RunnerLog = { LogView, LogFollower, ansiPieces };
