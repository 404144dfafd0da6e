/* Log viewer: numbered lines with anchors, follow-tail, a window of lines, live stream.
 * Rendering of a line is log_render.js's; the controls (search, deep links) log_controls.js's.
 *
 * Each line has a time since its step started, its chunk's: the server sends it once per chunk
 * (a live chunk's elapsed_ms) or as marks [line, ms] where a time starts (tail.json, …/lines).
 * The view keeps the marks of the lines it has not drawn yet, and each row gets its time cell
 * when it is drawn (shown when the box has the class "times").
 *
 * Every piece of log text reaches the page through textContent, never innerHTML, so HTML or
 * script in a log line is shown as text. The DOM keeps at most MAX_DOM lines: older lines are
 * dropped (the raw download has them all), so a huge or fast log cannot freeze the page.
 */
"use strict";

const MAX_DOM = 5000;
const FRAME_BUDGET = 500; // lines rendered per animation frame at most

/* The scrolling list of lines of one step: the tail (followed live), or for a while a window of
 * lines loaded from elsewhere in the log (a search hit, a deep link), with the tail kept aside. */
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
    this.marked = new Set(); // line numbers found by a search over the whole log
    this.older = []; // batches {first, lines, ansi} of a first tail still to put above its end
    this.windowed = null; // {first, last} while a window of lines is shown
    this.tailRows = null; // the tail's rows, kept out of the DOM while a window is shown
    this.marks = []; // [line, ms] where a time starts, ascending, for the tail's lines to draw
    this.onchange = null;
    box.addEventListener("scroll", () => {
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
      if (!this.windowed && this.follow !== atBottom && !this.autoScrolling) {
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
    this.marked = new Set();
    this.older = [];
    this.windowed = null;
    this.tailRows = null;
    this.marks = [];
    this.digits = 0;
    this.box.style.removeProperty("--gutter");
  }

  /* The number of the last line known (received, rendered or not). */
  lastLine() { return this.next - 1 + this.pending.length; }

  /* True when the page holds every line of the log (search can stay in the page). */
  holdsAll() { return !this.windowed && this.dropped === 0; }

  /* Size the line-number gutter to the digits of the largest number shown or to come. */
  sizeGutter() {
    const top = Math.max(this.lastLine(), this.windowed ? this.windowed.last : 0);
    const digits = Math.max(3, String(top).length);
    if (digits !== this.digits) {
      this.digits = digits;
      this.box.style.setProperty("--gutter", digits + "ch");
    }
  }

  /* The time (ms since the step started, or null) of tail line ``n``. */
  timeAt(n) {
    const marks = this.marks;
    let lo = 0;
    let hi = marks.length - 1;
    let found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= n) { found = marks[mid][1]; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  /* Record the times of lines from ``base`` on: ``times`` holds [offset from base, ms]. */
  addMarks(base, times) {
    for (const [offset, ms] of times || []) {
      const line = base + offset;
      const last = this.marks[this.marks.length - 1];
      if (last && last[0] >= line) this.marks.splice(this.lowerMark(line));
      this.marks.push([line, ms]);
    }
  }

  /* Index of the first mark at or after ``line``. */
  lowerMark(line) {
    let lo = 0;
    let hi = this.marks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.marks[mid][0] < line) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /* Forget the marks of lines drawn already: the last mark before the first line still to draw
   * is kept, so the marks stay as few as the lines waiting. */
  pruneMarks() {
    const lowest = this.older.length ? this.older[0].first : this.next;
    const keep = this.lowerMark(lowest + 1) - 1;
    if (keep > 64) this.marks.splice(0, keep);
  }

  /* Queue ``lines`` for the next frame; ``skipped`` lines came before them and were only
   * counted (a flood), so what is shown restarts at the first of ``lines``. ``times``: the
   * lines' time marks as [offset in lines, ms]. */
  append(lines, skipped, times) {
    if (skipped > 0) {
      this.next += this.pending.length + skipped;
      this.dropped = this.next - 1;
      this.pending = [];
      if (this.windowed) this.tailRows = document.createDocumentFragment();
      else this.box.textContent = "";
      this.older = [];
      this.ansi = {};
      this.hits = [];
      this.cur = -1;
    }
    this.addMarks(this.lastLine() + 1, times);
    if (this.startsEmpty(lines, skipped)) {
      this.fromTheEnd(lines);
    } else {
      for (const l of lines) this.pending.push(l);
      if (this.pending.length > MAX_DOM) {
        const cut = this.pending.length - MAX_DOM;
        this.pending.splice(0, cut);
        this.next += cut;
        this.dropped += cut;
        this.ansi = {};
        // Lines were skipped before the queue: what is older (aside or queued) would sit
        // above a gap, and would leave the DOM as the queue is drawn anyway.
        for (const b of this.older) this.dropped += b.lines.length;
        this.older = [];
        if (this.windowed) {
          this.tailRows = document.createDocumentFragment();
          this.dropped = this.next - 1;
        }
      }
      this.dropOlder();
    }
    this.pruneMarks(); // also while a window is shown and the tail only queues
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  startsEmpty(lines, skipped) {
    return !skipped && !this.windowed && !this.pending.length && !this.older.length &&
      this.box.childElementCount === 0 && lines.length > FRAME_BUDGET;
  }

  /* A first tail larger than a frame is drawn from its end: the lines a reader sees come in the
   * first frame, the older ones go above them a batch per frame after. Their colours are worked
   * out first (without the DOM), so a colour set on one line still reaches the next. */
  fromTheEnd(lines) {
    if (lines.length > MAX_DOM) {
      const cut = lines.length - MAX_DOM;
      lines = lines.slice(cut);
      this.next += cut;
      this.dropped += cut;
    }
    const split = lines.length - FRAME_BUDGET;
    for (let i = 0; i < split; i += FRAME_BUDGET) {
      const part = lines.slice(i, Math.min(i + FRAME_BUDGET, split));
      this.older.push({ first: this.next + i, lines: part, ansi: Object.assign({}, this.ansi) });
      for (const l of part) if (l.indexOf("\x1b") >= 0) ansiPieces(l, this.ansi);
    }
    this.next += split;
    this.pending = lines.slice(split);
  }

  /* Keep rows, queued older lines and pending lines within MAX_DOM: the oldest queued go. */
  dropOlder() {
    const shown = this.windowed ? this.tailRows.childElementCount : this.box.childElementCount;
    let excess = shown + this.pending.length - MAX_DOM;
    for (const b of this.older) excess += b.lines.length;
    while (excess > 0 && this.older.length) {
      const b = this.older[0];
      const cut = Math.min(excess, b.lines.length);
      for (const l of b.lines.slice(0, cut)) if (l.indexOf("\x1b") >= 0) ansiPieces(l, b.ansi);
      b.lines = b.lines.slice(cut);
      b.first += cut;
      this.dropped += cut;
      excess -= cut;
      if (!b.lines.length) this.older.shift();
    }
  }

  /* Put the newest batch of the older lines above the rows shown. */
  prependOlder() {
    const part = this.older.pop();
    const frag = document.createDocumentFragment();
    const ansi = Object.assign({}, part.ansi);
    part.lines.forEach((line, i) => {
      const row = makeRow(part.first + i, line, ansi, this.timeAt(part.first + i));
      if (this.marked.has(part.first + i)) row.classList.add("hit");
      frag.appendChild(row);
    });
    this.box.insertBefore(frag, this.box.firstChild);
  }

  flush() {
    this.scheduled = false;
    if (this.windowed) {
      // The tail waits aside; lines arriving meanwhile stay queued (at most MAX_DOM).
      this.sizeGutter();
      if (this.onchange) this.onchange();
      return;
    }
    const batch = this.pending.splice(0, FRAME_BUDGET);
    const frag = document.createDocumentFragment();
    for (const line of batch) {
      const n = this.next++;
      const row = makeRow(n, line, this.ansi, this.timeAt(n));
      if (this.marked.has(n)) row.classList.add("hit");
      frag.appendChild(row);
    }
    this.box.appendChild(frag);
    if (this.older.length) this.prependOlder();
    this.pruneMarks();
    const extra = this.box.childElementCount - MAX_DOM;
    if (extra > 0) {
      const range = document.createRange();
      range.setStartBefore(this.box.firstElementChild);
      range.setEndAfter(this.box.children[extra - 1]);
      range.deleteContents();
      this.dropped += extra;
    }
    this.sizeGutter();
    if (this.follow) this.toBottom();
    if (this.onchange) this.onchange();
    if ((this.pending.length || this.older.length) && !this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  /* Show lines ``first``… (from the server, with their time marks [line, ms]) in place of the
   * tail, which is kept aside. */
  showWindow(first, lines, times) {
    if (!this.windowed) {
      this.tailRows = document.createDocumentFragment();
      while (this.box.firstChild) this.tailRows.appendChild(this.box.firstChild);
      this.follow = false;
    } else {
      this.box.textContent = "";
    }
    this.windowed = { first, last: first + lines.length - 1 };
    this.box.appendChild(this.windowRows(first, lines, times));
    this.sizeGutter();
    if (this.onchange) this.onchange();
  }

  /* Add lines just before (``atStart``) or after the window, dropping rows at the other end
   * beyond MAX_DOM. */
  extendWindow(first, lines, atStart, times) {
    if (!this.windowed || !lines.length) return;
    const rows = this.windowRows(first, lines, times);
    if (atStart) {
      const height = this.box.scrollHeight;
      this.box.insertBefore(rows, this.box.firstChild);
      this.box.scrollTop += this.box.scrollHeight - height; // keep what the reader sees in place
      this.windowed.first = first;
      while (this.box.childElementCount > MAX_DOM) { this.box.lastElementChild.remove(); this.windowed.last--; }
    } else {
      this.box.appendChild(rows);
      this.windowed.last = first + lines.length - 1;
      while (this.box.childElementCount > MAX_DOM) { this.box.firstElementChild.remove(); this.windowed.first++; }
    }
    this.sizeGutter();
    if (this.onchange) this.onchange();
  }

  windowRows(first, lines, times) {
    const frag = document.createDocumentFragment();
    const ansi = {};
    const marks = times || [];
    let m = -1;
    lines.forEach((line, i) => {
      while (m + 1 < marks.length && marks[m + 1][0] <= first + i) m++;
      const row = makeRow(first + i, line, ansi, m >= 0 ? marks[m][1] : null);
      if (this.marked.has(first + i)) row.classList.add("hit");
      frag.appendChild(row);
    });
    return frag;
  }

  /* Leave the window: the tail comes back, with what arrived meanwhile, followed again. */
  backToTail() {
    if (!this.windowed) return;
    this.box.textContent = "";
    this.box.appendChild(this.tailRows);
    this.tailRows = null;
    this.windowed = null;
    this.follow = true;
    this.flush();
    this.toBottom();
  }

  /* Mark the rows of the lines a search over the whole log found (``numbers``: a Set). */
  markLines(numbers) {
    this.marked = numbers;
    for (const rows of [this.box, this.tailRows]) {
      if (!rows) continue; // the tail's rows are aside while a window is shown
      for (const row of rows.children) {
        row.classList.toggle("hit", numbers.has(parseInt(row.id.slice(1), 10)));
      }
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
    if (on && this.windowed) { this.backToTail(); return; }
    this.follow = on;
    if (on) this.toBottom();
  }

  /* Search the lines the page holds (when it holds the whole log). */
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

/* The time marks of a tail.json answer as [offset in its lines, ms]. */
function tailTimes(data) {
  return (data.times || []).map(([line, ms]) => [line - data.first_line, ms]);
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
    const res = await RunnerLiveCore.fetchPatiently(this.urls.tail, { credentials: "same-origin", signal: this.abort.signal });
    if (!res.ok) throw new Error("log tail: HTTP " + res.status);
    const data = await res.json();
    this.view.start(data.first_line || 1);
    if (data.first_line > 1) this.view.dropped = data.first_line - 1;
    this.view.append(shownLines(data), 0, tailTimes(data));
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
    const res = await RunnerLiveCore.fetchPatiently(url, { credentials: "same-origin", signal: this.abort.signal });
    if (!res.ok) return;
    const data = await res.json();
    if (data.lines.length) {
      // Lines stored beyond the byte budget of one look are skipped and counted.
      const next = this.view.next + this.view.pending.length;
      this.view.append(shownLines(data), Math.max(0, data.first_line - next), tailTimes(data));
    }
    if (data.last_seq !== null && data.last_seq !== undefined) this.lastSeq = data.last_seq;
    if (data.done) this.ended = true;
  }

  /* Chunk ``seq`` arrived live, its lines printed ``ms`` after the step started (or null):
   * shown unless it was shown already. */
  push(seq, lines, ms) {
    if (this.lastSeq !== null && this.lastSeq !== undefined && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.view.append(lines, 0, [[0, ms === undefined ? null : ms]]);
  }

  end() { this.ended = true; }

  stop() { this.abort.abort(); }
}

window.RunnerLog = Object.assign(window.RunnerLog || {}, { LogView, LogFollower, ansiPieces, safeLink });
