/* Build page: live stage/step statuses (JSON polling) and the selected step's log. */
"use strict";
(function () {
  const head = document.getElementById("build-head");
  const box = document.getElementById("log");
  const DONE = ["success", "failure", "killed", "error", "skipped", "declined"];
  let stepStatus = box ? box.dataset.stepStatus : "";
  let follower = null;
  let started = false;
  // Move on to the next step only after watching this one end (never away from a failure
  // someone opened to read).
  const watching = !!box && box.dataset.auto === "1" && DONE.indexOf(stepStatus) < 0;

  function setStatus(el, status) {
    if (!el) return;
    const s = el.querySelector(".status") || el;
    s.className = "status s-" + status;
    s.dataset.status = status;
    s.textContent = status;
  }

  // The step's hooks of docs/ui.md: its status and times, "exit N" once its container ended.
  function setStepDetails(row, step) {
    row.dataset.status = step.status;
    row.dataset.started = step.started;
    row.dataset.finished = step.finished;
    const ran = step.status === "success" || step.status === "failure" || step.exit_code;
    row.querySelector(".exit").textContent = ran ? "exit " + step.exit_code : "";
    row.querySelector(".exit").hidden = !ran;
    row.querySelector(".reason").textContent = step.error || "";
    row.querySelector(".reason").hidden = !step.error;
  }

  async function pollState() {
    let done = false;
    try {
      const res = await fetch(head.dataset.state, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.ok) {
        const st = await res.json();
        setStatus(document.getElementById("build-status"), st.status);
        document.getElementById("build-duration").textContent = st.duration;
        for (const stage of st.stages) {
          const li = document.querySelector('[data-stage-id="' + stage.id + '"]');
          if (!li) continue;
          setStatus(li.querySelector(".stage-head .st"), stage.status);
          li.querySelector(".stage-head .dur").textContent = stage.duration;
          const why = li.querySelector(".why");
          why.textContent = stage.why || "";
          why.hidden = !stage.why;
          for (const step of stage.steps) {
            const row = li.querySelector('[data-step-id="' + step.id + '"]');
            if (!row) continue;
            setStatus(row.querySelector(".st"), step.status);
            row.querySelector(".dur").textContent = step.duration;
            setStepDetails(row, step);
            if (box && String(step.id) === box.dataset.stepId) stepStatus = step.status;
          }
        }
        if (head.dataset.actions !== st.actions_key) {
          // Rendered and escaped by the server's template; only the allowed buttons are in it.
          // Replaced only when the buttons change, so a half-filled form is left alone.
          document.getElementById("actions").innerHTML = st.actions_html;
          head.dataset.actions = st.actions_key;
        }
        head.dataset.status = st.status;
        window.dispatchEvent(new CustomEvent("runner:build", { detail: st }));
        if (watching && DONE.indexOf(stepStatus) >= 0) followNext(st);
        done = DONE.indexOf(st.status) >= 0;
        if (box && !started && stepStatus !== "pending") startLog();
      }
    } catch (e) { /* server away: try again next tick */ }
    setTimeout(pollState, done ? 15000 : 1500);
  }

  /* When the step shown has ended, open the one running now or, if a quick step already
   * ended too, the last one that started after it. */
  function followNext(st) {
    const steps = [];
    for (const stage of st.stages) for (const step of stage.steps) steps.push(step);
    const here = steps.findIndex((step) => String(step.id) === box.dataset.stepId);
    let next = steps.find((step) => step.status === "running");
    if (!next) {
      const later = steps.slice(here + 1).filter((s) => s.status !== "pending" && s.status !== "skipped");
      next = later[later.length - 1];
    }
    if (!next || String(next.id) === box.dataset.stepId) return;
    const url = new URL(location.href);
    url.searchParams.set("step", next.id);
    url.searchParams.set("follow", "1");
    url.hash = "";
    location.replace(url.toString());
  }

  function startLog() {
    started = true;
    document.getElementById("log-state").textContent = "";
    const view = new RunnerLog.LogView(box);
    const state = document.getElementById("log-state");
    box.dataset.ready = "0";
    const controls = RunnerLog.attachControls(view, box);

    follower = new RunnerLog.LogFollower(view, { tail: box.dataset.tail, stream: box.dataset.stream },
      () => (DONE.indexOf(stepStatus) >= 0 ? "done" : stepStatus));
    follower.onstate = (s) => { state.textContent = s === "ended" ? "" : s; box.dataset.stream_state = s; };
    follower.loadTail().then((tail) => {
      box.dataset.ready = "1";
      controls.tailLoaded(tail);
      if (!tail.done && DONE.indexOf(stepStatus) < 0) return follower.follow();
      return null;
    }).catch((e) => { state.textContent = String(e.message || e); });
  }

  if (box && stepStatus === "pending") {
    document.getElementById("log-state").textContent = "waiting for the step to start";
  }
  if (head) pollState();
})();
