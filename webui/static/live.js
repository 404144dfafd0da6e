/* The page's side of the live connection: RunnerLive.open() gives one client per page.
 *
 * The client sends the page's topics to the browser's shared live worker (one event stream for
 * all tabs), or, where SharedWorker is missing or the worker failed, runs the same multiplexer in
 * the page. While
 * the tab is hidden it follows nothing; when shown again it asks for every log after the last
 * chunk it got (and for the builds' current state), so it catches up without gaps.
 *
 *   const live = RunnerLive.open();
 *   live.on("state", (data) => ...);   // also "build", "log", "log-end", "deleted", "signed-out"
 *   live.onstatus = (s) => ...;        // {state: "live" | "reconnecting" | "busy" | "signed-out" | "error", wait}
 *   live.follow({builds: ["o/n/12"], repos: [], logs: {stepId: afterSeq}});
 */
"use strict";
(function () {
  const scriptSrc = document.currentScript ? document.currentScript.src : "/ui/static/live.js";

  class LiveClient {
    constructor() {
      this.handlers = {};
      this.onstatus = null;
      this.topics = { repos: [], builds: [], logs: {} };
      // A shared worker that failed to load its scripts (a network change while it loaded) is
      // left for the page's own stream, from the topics and resume points of now.
      const onMessage = (msg) => this.receive(msg);
      this.port = sharedWorker(onMessage, () => {
        this.shared = false;
        this.port = inPage(onMessage);
        this.send();
      });
      this.shared = !!this.port; // on the browser's shared connection (else the page's own)
      if (!this.port) this.port = inPage(onMessage);
      document.addEventListener("visibilitychange", () => this.send());
      window.addEventListener("pagehide", () => this.port.postMessage({ type: "close" }));
      window.addEventListener("pageshow", (e) => { if (e.persisted) this.send(); });
    }

    on(kind, fn) { (this.handlers[kind] = this.handlers[kind] || []).push(fn); }

    /* Follow these topics (replacing the previous ones). */
    follow(topics) {
      this.topics = { repos: topics.repos || [], builds: topics.builds || [], logs: Object.assign({}, topics.logs || {}) };
      this.send();
    }

    send() {
      const t = document.hidden ? { repos: [], builds: [], logs: {} } : this.topics;
      // Who looks: the worker keeps nothing of one user's for another (docs/ui.md).
      const user = document.body.dataset.user || "";
      this.port.postMessage({ type: "topics", user, repos: t.repos, builds: t.builds, logs: t.logs });
    }

    receive(msg) {
      if (msg.type === "status") {
        if (this.onstatus) this.onstatus(msg);
        return;
      }
      if (msg.type !== "event") return;
      const data = msg.data;
      // Remember where each log is, so a hidden tab resumes after the last chunk it got.
      if (msg.kind === "log" && data.step in this.topics.logs) this.topics.logs[data.step] = data.seq;
      if (msg.kind === "log-end") delete this.topics.logs[data.step];
      if (msg.kind === "deleted") {
        const key = data.repo + "/" + data.number;
        this.topics.builds = this.topics.builds.filter((b) => b !== key);
      }
      for (const fn of this.handlers[msg.kind] || []) fn(data);
    }
  }

  /* A port to the browser's shared worker (``onFailure`` when it fails), or null without one. */
  function sharedWorker(onMessage, onFailure) {
    if (typeof SharedWorker === "function") {
      try {
        const worker = new SharedWorker(new URL("live-worker.js", scriptSrc).toString(), { name: "runner-live" });
        let failed = false;
        const fail = () => {
          if (failed) return;
          failed = true;
          worker.port.close();
          onFailure();
        };
        worker.onerror = fail; // its script did not load
        worker.port.onmessage = (e) => {
          if (e.data && e.data.type === "failed") fail(); // loaded without live-core.js
          else if (!failed) onMessage(e.data);
        };
        worker.port.start();
        return worker.port;
      } catch (e) { /* blocked (e.g. by a policy): the page's own stream */ }
    }
    return null;
  }

  /* The multiplexer run in the page, behind the same messages as the shared worker's port. */
  function inPage(onMessage) {
    const mux = new RunnerLiveCore.LiveMux();
    const port = { postMessage: (msg) => setTimeout(() => onMessage(msg), 0) };
    return {
      postMessage(msg) {
        if (msg.type === "topics") mux.setTopics(port, msg);
        else if (msg.type === "close") mux.drop(port);
      },
    };
  }

  let client = null;
  window.RunnerLive = {
    open() { if (!client) client = new LiveClient(); return client; },
    sharedWorker: typeof SharedWorker === "function",
  };
})();
