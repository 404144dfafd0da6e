/* At a glance, on every page: relative times ("3 min ago") refresh every 30 s and durations of
 * running builds, stages and steps count up every second. On a build page the favicon and the
 * title show the build's status, from the page at load and from each "runner:build" event of
 * the live updates, and a person who opted in gets a desktop notification when the build ends. */
"use strict";
(function () {
  const DONE = ["success", "failure", "killed", "error", "skipped", "declined"];
  const BAD = ["failure", "killed", "error", "declined"];
  const NOTIFY_KEY = "runner.notify-build-end";
  const script = document.currentScript;
  // Browser clock minus server clock: times are the server's, the ticking is the browser's.
  const serverTime = script ? Number(script.dataset.serverTime) : 0;
  const skew = serverTime ? Date.now() / 1000 - serverTime : 0;
  const now = () => Date.now() / 1000 - skew;

  /* Same texts as webui/formatting.py: "1m 05s", "2h 03m", "7s"; "3 min ago", "just now". */
  function duration(secs) {
    secs = Math.max(0, Math.floor(secs));
    const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (h) return h + "h " + two(m) + "m";
    if (m) return m + "m " + two(s) + "s";
    return s + "s";
  }
  function parseDuration(text) {
    const m = /^(?:(\d+)h )?(?:(\d+)m ?)?(?:(\d+)s)?$/.exec(text.trim());
    if (!m || !text.trim()) return null;
    return (Number(m[1] || 0) * 3600) + (Number(m[2] || 0) * 60) + Number(m[3] || 0);
  }
  function ago(secs) {
    secs = Math.max(0, Math.floor(secs));
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (secs >= size) return Math.floor(secs / size) + " " + unit + " ago";
    }
    return "just now";
  }
  const RELATIVE = /^(just now|\d+ (min|h|d) ago)$/;

  function refreshTimes() {
    for (const el of document.querySelectorAll("time[datetime]")) {
      if (!RELATIVE.test(el.textContent.trim())) continue;
      const at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = ago(now() - at / 1000);
    }
  }

  /* A duration ticks while what it measures runs: the status badge of its step, stage, build
   * head or table row says "running" and it has a start but no finish. */
  function tickDurations() {
    for (const el of document.querySelectorAll("[data-step-id] .dur, .dur[data-started]")) {
      const owner = el.closest("[data-step-id], [data-stage-id], #build-head, tr");
      if (!owner) continue;
      const badge = owner.querySelector(".status[data-status]");
      if (!badge || badge.dataset.status !== "running") continue;
      const times = el.dataset.started !== undefined ? el.dataset : owner.dataset;
      if (Number(times.finished || 0) > 0) continue;
      let started = Number(times.started || 0);
      if (!started) {
        // Started after the page was rendered, and the live update brought only the text.
        const shown = parseDuration(el.textContent);
        if (shown === null) continue;
        started = now() - shown;
        times.started = String(Math.floor(started));
      }
      const text = duration(now() - started);
      if (el.textContent !== text) el.textContent = text;
    }
  }

  setInterval(refreshTimes, 30000);
  setInterval(tickDurations, 1000);

  const head = document.getElementById("build-head");
  if (!head) return;

  const GLYPH = { success: "✓", running: "●", pending: "○", blocked: "○", waiting: "○", skipped: "–" };
  const COLOUR = { success: "#1a7f37", running: "#9a6700", pending: "#8250df", blocked: "#8250df", waiting: "#8250df" };
  const glyph = (s) => (BAD.indexOf(s) >= 0 ? "✗" : GLYPH[s] || "○");
  const colour = (s) => (BAD.indexOf(s) >= 0 ? "#cf222e" : COLOUR[s] || "#6e7781");
  const name = "#" + head.dataset.number + " " + head.dataset.repo;

  function icon(status) {
    const mark = {
      "✓": '<path d="M9 16.5l4.5 4.5 9.5-10" fill="none" stroke="#fff" stroke-width="3.2" stroke-linecap="round" stroke-linejoin="round"/>',
      "✗": '<path d="M10.5 10.5l11 11M21.5 10.5l-11 11" stroke="#fff" stroke-width="3.2" stroke-linecap="round"/>',
      "●": '<circle cx="16" cy="16" r="6" fill="#fff"/>',
    }[glyph(status)] || '<circle cx="16" cy="16" r="6" fill="none" stroke="#fff" stroke-width="3"/>';
    return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" aria-label="' + status + '">' +
      '<circle cx="16" cy="16" r="15" fill="' + colour(status) + '"/>' + mark + "</svg>";
  }

  function favicon() {
    let link = document.getElementById("favicon");
    if (!link) {
      link = document.createElement("link");
      link.rel = "icon";
      link.id = "favicon";
      document.head.appendChild(link);
    }
    return link;
  }

  let shown = null;
  function show(status) {
    if (!status || status === shown) return;
    shown = status;
    document.title = glyph(status) + " " + name;
    const link = favicon();
    link.type = "image/svg+xml";
    link.dataset.status = status;
    link.href = "data:image/svg+xml," + encodeURIComponent(icon(status));
  }

  /* Desktop notification when the build ends, for people who asked for it (remembered in
   * this browser); the button appears only while the build runs and the browser can notify. */
  const button = document.getElementById("notify-toggle");
  const canNotify = "Notification" in window;
  const optedIn = () => localStorage.getItem(NOTIFY_KEY) === "on" && Notification.permission === "granted";
  function showButton(status) {
    if (!button) return;
    button.hidden = !canNotify || DONE.indexOf(status) >= 0;
    if (button.hidden) return;
    const denied = Notification.permission === "denied";
    button.disabled = denied;
    button.setAttribute("aria-pressed", optedIn() ? "true" : "false");
    button.textContent = denied ? "Notifications blocked by the browser" : "Notify me when it ends";
  }
  if (button && canNotify) {
    button.addEventListener("click", async () => {
      if (optedIn()) {
        localStorage.removeItem(NOTIFY_KEY);
      } else if ((await Notification.requestPermission()) === "granted") {
        localStorage.setItem(NOTIFY_KEY, "on");
      }
      showButton(head.dataset.status);
    });
  }
  function notifyEnd(status) {
    if (!canNotify || !optedIn()) return;
    try {
      new Notification(glyph(status) + " " + name + " " + status, {
        body: document.querySelector(".commit-msg") ? document.querySelector(".commit-msg").textContent : "",
        tag: "runner-build-" + head.dataset.buildId,
      });
    } catch (e) { /* a browser that notifies only from a service worker: the title says it */ }
  }

  let last = head.dataset.status;
  show(last);
  showButton(last);
  window.addEventListener("runner:build", (event) => {
    const status = event.detail && event.detail.status;
    if (!status) return;
    show(status);
    showButton(status);
    if (DONE.indexOf(last) < 0 && DONE.indexOf(status) >= 0) notifyEnd(status);
    last = status;
  });
})();
