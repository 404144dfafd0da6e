/* The live connection: one event stream (GET /api/v1/stream) for the topics of every tab, and
 * the multiplexer that hands each tab the events of its own topics.
 *
 * Runs in the SharedWorker (live-worker.js) that all tabs of a browser share, or in a page
 * when the browser has no SharedWorker (live.js). No DOM here: events are plain objects.
 *
 * A tab ("port") sends {type: "topics", repos: [...], builds: [...], logs: {stepId: afterSeq}};
 * it receives {type: "event", kind, data} and {type: "status", state, wait}. The stream is
 * reopened with the union of all tabs' topics when that changes, each log resumed after the
 * oldest chunk one of its tabs still needs, so no tab misses or doubles a line.
 */
"use strict";

const LIVE_STREAM_URL = "/api/v1/stream";
const SLICE_MS = 8; // parsing time after which the reader lets a page render
const RECENT_CHUNKS = 256; // chunks of each log kept to hand a joining tab without reopening
// Characters of log kept for joining tabs over all logs: a chunk may hold megabytes, and the
// worker lives as long as any tab of the browser.
const RECENT_CHARS = 4 * 1024 * 1024;
const PATIENCE_MS = 4000; // the longest wait between tries of a request that got no answer
const MAX_TOPICS = 64; // the server's limit per stream: logs first, then builds, then repositories

/* Parse a text/event-stream body read through fetch: calls onEvent({event, data}) per event. */
async function readLiveEvents(response, onEvent, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let sliceStart = Date.now();
  while (!signal.aborted) {
    if (Date.now() - sliceStart > SLICE_MS) {
      // Buffered data resolves reads without yielding; in a page, let it render meanwhile.
      await new Promise((r) => setTimeout(r, 0));
      sliceStart = Date.now();
    }
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let pos = 0;
    let end;
    while ((end = buf.indexOf("\n\n", pos)) >= 0) {
      const block = buf.slice(pos, end);
      pos = end + 2;
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("data:")) data.push(line.slice(line.charCodeAt(5) === 32 ? 6 : 5));
        else if (line.startsWith("event:")) kind = line.slice(6).trim();
      }
      if (data.length) onEvent(kind, data.join("\n"));
    }
    buf = buf.slice(pos);
  }
}

/* One stream of a set of topics: reconnects with backoff, resumes logs after their last chunk,
 * waits out 429/503 for their Retry-After. */
class LiveConnection {
  constructor(onEvent, onStatus) {
    this.onEvent = onEvent; // (kind, payload object)
    this.onStatus = onStatus; // ({state, wait})
    this.topics = null;
    this.abort = null;
    this.generation = 0;
    this.running = false;
  }

  /* Follow exactly these topics from now on ({repos, builds, logs: Map step -> after}). */
  open(topics) {
    if (this.abort) this.abort.abort();
    this.topics = topics;
    this.generation += 1;
    const empty = !topics.repos.size && !topics.builds.size && !topics.logs.size;
    if (empty) { this.abort = null; return; }
    this.abort = new AbortController();
    const generation = this.generation;
    this.running = true;
    this.run(generation, this.abort.signal).finally(() => {
      if (generation === this.generation) this.running = false;
    });
  }

  url() {
    const q = new URLSearchParams();
    for (const r of this.topics.repos) q.append("repo", r);
    for (const b of this.topics.builds) q.append("build", b);
    for (const [step, after] of this.topics.logs) q.append("log", step + ":" + after);
    return LIVE_STREAM_URL + "?" + q.toString();
  }

  async run(generation, signal) {
    let delay = 500;
    while (!signal.aborted && generation === this.generation) {
      let ended = false;
      try {
        const res = await fetch(this.url(), { credentials: "same-origin", signal, headers: { Accept: "text/event-stream" } });
        if (res.ok) {
          delay = 500;
          this.onStatus({ state: "live" });
          await readLiveEvents(res, (kind, raw) => {
            let data;
            try { data = JSON.parse(raw); } catch (e) { return; }
            if (kind === "log" && this.topics.logs.has(data.step)) this.topics.logs.set(data.step, data.seq);
            if (kind === "log-end") this.topics.logs.delete(data.step);
            if (kind === "deleted") this.topics.builds.delete(data.repo + "/" + data.number);
            if (kind === "signed-out" || kind === "end") ended = true;
            this.onEvent(kind, data);
          }, signal);
          if (ended) return;
        } else if (res.status === 429 || res.status === 503) {
          // The server holds as many live streams as it serves: the pages poll meanwhile.
          const wait = Math.min(60, Math.max(2, parseInt(res.headers.get("Retry-After"), 10) || 5));
          this.onStatus({ state: "busy", wait });
          await sleep(wait * 1000, signal);
          continue;
        } else if (res.status === 401) {
          this.onStatus({ state: "signed-out" });
          return;
        } else {
          this.onStatus({ state: "error", code: res.status });
          await sleep(30000, signal);
          continue;
        }
      } catch (e) {
        if (signal.aborted) return;
      }
      this.onStatus({ state: "reconnecting" });
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/* fetch(), tried again when the request fails without an answer (a network error): a browser
 * fails the requests in flight when the machine's network changes (Chromium: ERR_NETWORK_CHANGED),
 * as it does beside a Docker engine whenever a build's network is made or removed. The body is
 * read before the answer is handed on, so a failure on its way is tried again too. Answers,
 * errors included, are the caller's; an aborted request is not tried again. For GETs only. */
async function fetchPatiently(url, options) {
  const signal = options && options.signal;
  for (let delay = 250; ; delay *= 2) {
    try {
      const res = await fetch(url, options);
      await res.clone().arrayBuffer(); // the clone's read keeps the body for the answer's own
      return res;
    } catch (e) {
      if ((signal && signal.aborted) || delay > PATIENCE_MS) throw e;
    }
    await sleep(delay, signal);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const stop = () => { clearTimeout(t); resolve(); };
    const t = setTimeout(() => {
      if (signal) signal.removeEventListener("abort", stop);
      resolve();
    }, ms);
    if (signal) signal.addEventListener("abort", stop, { once: true });
  });
}

/* Hands the stream's events to the ports (tabs) whose topics they belong to. */
class LiveMux {
  constructor() {
    this.ports = new Map(); // port -> {repos: Set, builds: Set, logs: Map step -> last seq}
    this.states = new Map(); // "owner/name/number" -> last state event, for tabs that join
    this.recent = new Map(); // step -> the last RECENT_CHUNKS log events, for tabs that join
    this.recentChars = 0; // characters held in this.recent
    this.user = undefined; // the user whose pages the kept events are for
    this.status = { state: "idle" };
    this.conn = new LiveConnection((kind, data) => this.dispatch(kind, data), (s) => this.setStatus(s));
    this.pending = false;
  }

  /* Forget every build state and log chunk kept for tabs that join: they were one user's. */
  forget() {
    this.states.clear();
    this.recent.clear();
    this.recentChars = 0;
  }

  setTopics(port, msg) {
    // A tab of another user than the stream's (someone signed out and another in): nothing
    // kept is handed to it, and the stream is opened again with its cookie.
    if (msg.user !== this.user) {
      this.forget();
      this.user = msg.user;
      for (const other of [...this.ports.keys()]) if (other !== port) this.ports.delete(other);
      this.conn.topics = null;
    }
    const logs = new Map();
    for (const [step, after] of Object.entries(msg.logs || {})) logs.set(parseInt(step, 10), after);
    this.ports.set(port, { repos: new Set(msg.repos || []), builds: new Set(msg.builds || []), logs });
    for (const b of msg.builds || []) {
      const known = this.states.get(b);
      if (known) port.postMessage({ type: "event", kind: "state", data: known });
    }
    // A tab that joins a followed log behind the stream gets the chunks it lacks from memory
    // when they are all there; otherwise the stream is reopened from its resume point.
    for (const [step, after] of logs) {
      const recent = this.recent.get(step) || [];
      if (!recent.length || recent[0].seq > after + 1) continue;
      for (const ev of recent) {
        if (ev.seq > logs.get(step)) {
          port.postMessage({ type: "event", kind: "log", data: ev });
          logs.set(step, ev.seq);
        }
      }
    }
    port.postMessage({ type: "status", ...this.status });
    this.schedule();
  }

  drop(port) {
    this.ports.delete(port);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => { this.pending = false; this.reconcile(); }, 30);
  }

  /* Reopen the stream when the union of topics changed, or a tab needs older log lines. */
  reconcile() {
    const repos = new Set();
    const builds = new Set();
    const logs = new Map();
    for (const t of this.ports.values()) {
      for (const r of t.repos) repos.add(r);
      for (const b of t.builds) builds.add(b);
      for (const [step, after] of t.logs) logs.set(step, logs.has(step) ? Math.min(logs.get(step), after) : after);
    }
    // Beyond the server's limit the least needed topics wait (a list then updates on reload).
    const room = Math.max(0, MAX_TOPICS - logs.size);
    for (const b of [...builds].slice(room)) builds.delete(b);
    for (const r of [...repos].slice(Math.max(0, room - builds.size))) repos.delete(r);
    for (const b of this.states.keys()) if (!builds.has(b)) this.states.delete(b);
    for (const step of [...this.recent.keys()]) if (!logs.has(step)) this.dropRecent(step);
    const cur = this.conn.topics;
    const same = cur && sameSet(cur.repos, repos) && sameSet(cur.builds, builds) &&
      cur.logs.size === logs.size && [...logs].every(([s, a]) => cur.logs.has(s) && cur.logs.get(s) <= a);
    if (same && this.conn.running) return;
    this.conn.open({ repos, builds, logs });
  }

  /* Keep a log event for tabs that join, within RECENT_CHUNKS per log and RECENT_CHARS in
     all; the oldest chunks go first, those of other logs before the last one of this log. */
  keepRecent(data) {
    const recent = this.recent.get(data.step) || [];
    if (recent.length && data.seq <= recent[recent.length - 1].seq) return;
    recent.push(data);
    this.recent.set(data.step, recent);
    this.recentChars += chunkChars(data);
    if (recent.length > RECENT_CHUNKS) this.recentChars -= chunkChars(recent.shift());
    while (this.recentChars > RECENT_CHARS) {
      const victim = recent.length > 1 ? recent : [...this.recent.values()].find((r) => r !== recent && r.length);
      if (!victim) break;
      this.recentChars -= chunkChars(victim.shift());
    }
    for (const [step, r] of [...this.recent]) if (!r.length) this.recent.delete(step);
  }

  dropRecent(step) {
    for (const ev of this.recent.get(step) || []) this.recentChars -= chunkChars(ev);
    this.recent.delete(step);
  }

  dispatch(kind, data) {
    if (kind === "log") {
      this.keepRecent(data);
    }
    for (const [port, t] of this.ports) {
      let send = false;
      if (kind === "state" || kind === "deleted") {
        const key = data.repo + "/" + data.number;
        send = t.builds.has(key);
        if (kind === "state") this.states.set(key, data);
      } else if (kind === "build") {
        send = t.repos.has(data.repo);
      } else if (kind === "log") {
        const last = t.logs.get(data.step);
        if (last !== undefined && data.seq > last) { t.logs.set(data.step, data.seq); send = true; }
      } else if (kind === "log-end") {
        send = t.logs.delete(data.step);
      } else {
        send = true; // signed-out, end, ready
      }
      if (send) port.postMessage({ type: "event", kind, data });
    }
    if (kind === "signed-out" || kind === "end") this.forget();
  }

  setStatus(s) {
    this.status = s;
    if (s.state === "signed-out") this.forget();
    for (const port of this.ports.keys()) port.postMessage({ type: "status", ...s });
  }
}

function chunkChars(ev) {
  let n = 0;
  for (const line of ev.lines || []) n += line.length + 1;
  return n;
}

function sameSet(a, b) {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

self.RunnerLiveCore = { LiveMux, LiveConnection, readLiveEvents, fetchPatiently };
