/* Build page: stage and step statuses pushed by the live connection (live.js), the selected
 * step's log, and moving on to the next step in place while following.
 *
 * The page follows its build (state events) and the shown step's log (log events) on the
 * browser's one live connection. It polls state.json (with ETag, so an unchanged build costs a
 * 304) only to refresh its buttons when the build's status changed, and while the server admits
 * no more live streams. Signed out or build deleted: the page says so and stops.
 */
"use strict";
(function () {
  const head = document.getElementById("build-head");
  if (!head) return;
  const box = document.getElementById("log");
  const DONE = ["success", "failure", "killed", "error", "skipped", "declined"];
  const pagePath = location.pathname.replace(/\/+$/, "");
  const buildKey = head.dataset.repo + "/" + head.dataset.number;
  const logState = document.getElementById("log-state");
  const nextLink = document.getElementById("next-step");
  const live = RunnerLive.open();
  let stepId = box ? box.dataset.stepId : "";
  let stepStatus = box ? box.dataset.stepStatus : "";
  // Move on to the next step only after watching this one end (never away from a failure
  // someone opened to read); a page opened between two steps of a running build shows the step
  // that succeeded last, and moves on when the next one starts.
  let watching = !!box && box.dataset.auto === "1" && (DONE.indexOf(stepStatus) < 0 ||
    (stepStatus === "success" && DONE.indexOf(head.dataset.status) < 0));
  let view = null;
  let follower = null;
  let started = false;
  let stopped = false;
  let busyWait = 0;
  let actionsFor = head.dataset.status;
  let stateTag = null;
  let controls = null;
  let lastState = null;

  function setStatus(el, status) {
    if (!el) return;
    const s = el.querySelector(".status") || el;
    s.className = "status s-" + status;
    s.dataset.status = status;
    s.textContent = status;
  }

  function setText(el, text) { if (el) el.textContent = text; }

  /* A step's exit code (once its container ended: "exit 0" too) and error, in .exit and
   * .reason (docs/ui.md). */
  function showOutcome(row, step) {
    const ran = step.status === "success" || step.status === "failure" || !!step.exit_code;
    const exit = row.querySelector(".exit");
    const reason = row.querySelector(".reason");
    if (exit) { exit.textContent = ran ? "exit " + step.exit_code : ""; exit.hidden = !ran; }
    if (reason) { reason.textContent = step.error || ""; reason.hidden = !step.error; }
  }

  /* Apply a pushed (or polled) state to the page, then tell listeners (title, favicon). */
  function applyState(st) {
    if (stopped) return;
    lastState = st;
    setStatus(document.getElementById("build-status"), st.status);
    setText(document.getElementById("build-duration"), st.duration);
    head.dataset.status = st.status;
    for (const stage of st.stages) {
      const li = document.querySelector('[data-stage-id="' + stage.id + '"]');
      if (!li) continue;
      setStatus(li.querySelector(".stage-head .st"), stage.status);
      setText(li.querySelector(".stage-head .dur"), stage.duration);
      const why = li.querySelector(".why");
      if (why) { why.textContent = stage.why || ""; why.hidden = !stage.why; }
      for (const step of stage.steps) {
        const row = li.querySelector('[data-step-id="' + step.id + '"]');
        if (!row) continue;
        row.dataset.status = step.status;
        row.dataset.started = String(Math.floor(step.started || 0));
        row.dataset.finished = String(Math.floor(step.finished || 0));
        setStatus(row.querySelector(".st"), step.status);
        setText(row.querySelector(".dur"), step.duration);
        showOutcome(row, step);
        if (String(step.id) === stepId) stepStatus = step.status;
      }
    }
    if (st.status !== actionsFor) pollState();
    window.dispatchEvent(new CustomEvent("runner:build", { detail: st }));
    if (box && !started && stepStatus !== "pending") startLog();
    if (watching && DONE.indexOf(stepStatus) >= 0) moveOn(st);
  }

  /* state.json: the buttons for this user, and the state when the live stream is refused. */
  async function pollState() {
    const headers = { Accept: "application/json" };
    if (stateTag) headers["If-None-Match"] = stateTag;
    let res;
    try {
      res = await RunnerLiveCore.fetchPatiently(head.dataset.state, { credentials: "same-origin", headers });
    } catch (e) { return; }
    if (res.redirected && /\/login/.test(res.url)) return signedOut();
    if (res.status === 404) return deleted();
    if (res.status !== 200) return;
    stateTag = res.headers.get("ETag");
    const st = await res.json();
    if (head.dataset.actions !== st.actions_key) {
      // Rendered and escaped by the server's template; only the allowed buttons are in it.
      // Replaced only when the buttons change, so a half-filled form is left alone.
      document.getElementById("actions").innerHTML = st.actions_html;
      head.dataset.actions = st.actions_key;
    }
    actionsFor = st.status;
    applyState(st);
  }

  /* While the server admits no more live streams: poll the log and the state meanwhile. */
  async function pollWhileBusy() {
    while (busyWait > 0 && !stopped) {
      // Said again each turn: a step switch or an ended log may have cleared the line.
      setText(logState, "live view busy: refreshing every " + busyWait + " s");
      if (follower && !follower.ended) { try { await follower.poll(); } catch (e) { /* next turn */ } }
      await pollState();
      await new Promise((r) => setTimeout(r, busyWait * 1000));
    }
  }

  function note(text) {
    let el = document.getElementById("live-note");
    if (!el) {
      el = document.createElement("p");
      el.id = "live-note";
      el.className = "flash error";
      el.setAttribute("role", "alert");
      head.parentNode.insertBefore(el, head);
    }
    el.textContent = text;
    return el;
  }

  function stop(state) {
    stopped = true;
    busyWait = 0;
    if (follower) follower.stop();
    live.follow({});
    setText(logState, state);
  }

  function signedOut() {
    if (stopped) return;
    stop("signed out");
    const el = note("You are signed out, so this page no longer updates. ");
    const a = document.createElement("a");
    a.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    a.textContent = "Log in again";
    el.appendChild(a);
  }

  function deleted() {
    if (stopped) return;
    stop("build deleted");
    note("This build was deleted.");
  }

  /* The API's address of a step's log (its search and line ranges): by stage and step number. */
  function logApi(id) {
    const base = box.dataset.logApi.replace(/\/logs\/\d+\/\d+$/, "/logs/");
    for (const stage of (lastState ? lastState.stages : [])) {
      for (const step of stage.steps) {
        if (String(step.id) === String(id)) return base + stage.number + "/" + step.number;
      }
    }
    return "";
  }

  function logUrls(id) {
    return { tail: pagePath + "/logs/" + id + "/tail.json", raw: pagePath + "/logs/" + id + "/raw" };
  }

  /* What the page follows now: its build, and the shown step's log while it runs. */
  function followTopics() {
    if (stopped) return;
    const logs = {};
    if (follower && follower.loaded && !follower.ended && DONE.indexOf(stepStatus) < 0) {
      logs[stepId] = follower.resumeAfter();
    }
    live.follow({ builds: [buildKey], logs });
  }

  function startLog() {
    started = true;
    setText(logState, "");
    if (!view) {
      view = new RunnerLog.LogView(box);
      controls = RunnerLog.attachControls(view, box);
    }
    const mine = new RunnerLog.LogFollower(view, { tail: box.dataset.tail });
    follower = mine;
    box.dataset.ready = "0";
    mine.loadTail().then((tail) => {
      if (mine !== follower) return;
      mine.loaded = true;
      box.dataset.ready = "1";
      // An ended log is not live, whatever the stream said while its tail was on the way.
      if (mine.ended) setText(logState, "");
      controls.tailLoaded(tail);
      followTopics();
    }).catch((e) => { if (!mine.abort.signal.aborted) setText(logState, String(e.message || e)); });
  }

  /* The step to show when the shown one has ended: the one running now or, if a quick step
   * already ended too, the last one that started after it. */
  function nextStep(st) {
    const steps = [];
    for (const stage of st.stages) for (const step of stage.steps) steps.push(step);
    const here = steps.findIndex((step) => String(step.id) === stepId);
    let next = steps.find((step) => step.status === "running");
    if (!next) {
      const later = steps.slice(here + 1).filter((s) => s.status !== "pending" && s.status !== "skipped");
      next = later[later.length - 1];
    }
    return next && String(next.id) !== stepId ? next : null;
  }

  function stepHref(id) {
    const url = new URL(location.href);
    url.searchParams.set("step", id);
    url.searchParams.set("follow", "1");
    url.hash = "";
    return url.toString();
  }

  /* A reader who follows the tail moves on at once; one who searches or scrolled up is only
   * offered the next step, so what they read stays put. */
  function moveOn(st) {
    const next = nextStep(st);
    if (!next) return;
    const search = document.getElementById("log-search");
    if (view && view.follow && !(search && search.value)) {
      switchTo(next);
    } else if (nextLink) {
      nextLink.textContent = "next step started: " + next.name + " →";
      nextLink.href = stepHref(next.id);
      nextLink.dataset.stepId = String(next.id);
      nextLink.hidden = false;
    }
  }

  /* Show another step's log without leaving the page. */
  function switchTo(next) {
    history.replaceState(null, "", stepHref(next.id));
    for (const a of document.querySelectorAll("#stages a[aria-current]")) a.removeAttribute("aria-current");
    const link = document.querySelector('[data-step-id="' + next.id + '"] a');
    if (link) link.setAttribute("aria-current", "true");
    const title = document.querySelector(".log-tools strong");
    if (title) title.textContent = next.name;
    const urls = logUrls(next.id);
    stepId = String(next.id);
    stepStatus = next.status;
    box.dataset.stepId = stepId;
    box.dataset.stepStatus = stepStatus;
    box.dataset.tail = urls.tail;
    box.dataset.raw = urls.raw;
    const api = logApi(next.id);
    if (api) box.dataset.logApi = api;
    box.setAttribute("aria-label", "Log of " + next.name);
    const raw = document.getElementById("log-raw");
    if (raw) raw.href = urls.raw;
    if (nextLink) nextLink.hidden = true;
    watching = DONE.indexOf(stepStatus) < 0;
    if (follower) follower.stop();
    follower = null;
    if (view) { view.reset(); view.setFollow(true); }
    started = false;
    if (stepStatus === "pending") {
      setText(logState, "waiting for the step to start");
      followTopics();
    } else {
      startLog();
    }
  }

  if (nextLink) {
    nextLink.addEventListener("click", (e) => {
      const id = nextLink.dataset.stepId;
      const row = id && document.querySelector('[data-step-id="' + id + '"]');
      if (!row) return;
      e.preventDefault();
      const name = row.querySelector(".step-name") || row.querySelector("a span");
      switchTo({ id: parseInt(id, 10), name: name ? name.textContent : "", status: row.dataset.status });
    });
  }

  live.on("state", (d) => { if (d.repo + "/" + d.number === buildKey) applyState(d.state); });
  live.on("log", (d) => { if (follower && String(d.step) === stepId) follower.push(d.seq, d.lines, d.elapsed_ms); });
  live.on("log-end", (d) => {
    if (follower && String(d.step) === stepId) { follower.end(); setText(logState, ""); }
  });
  live.on("deleted", (d) => { if (d.repo + "/" + d.number === buildKey) deleted(); });
  live.on("signed-out", signedOut);
  live.onstatus = (s) => {
    if (stopped) return;
    if (s.state === "signed-out") { signedOut(); return; }
    const wasBusy = busyWait > 0;
    busyWait = s.state === "busy" ? s.wait : 0;
    if (box) box.dataset.streamState = s.state;
    const following = follower && !follower.ended;
    if (s.state === "live") {
      if (following) setText(logState, "live");
      else if (wasBusy || logState.textContent === "reconnecting") setText(logState, "");
    } else if (s.state === "reconnecting") {
      setText(logState, "reconnecting");
    } else if (s.state === "busy") {
      setText(logState, "live view busy: refreshing every " + s.wait + " s");
      if (!wasBusy) pollWhileBusy();
    } else if (s.state === "error") {
      setText(logState, "live view unavailable (HTTP " + s.code + ")");
    }
  };

  if (box && stepStatus === "pending") setText(logState, "waiting for the step to start");
  if (box && stepStatus !== "pending") startLog();
  followTopics();
})();
