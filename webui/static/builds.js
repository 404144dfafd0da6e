/* Build list and home page: redrawn when a build of theirs appears or changes status.
 *
 * The page follows its repositories on the browser's one live connection (live.js) and only
 * then fetches its server-rendered rows again, with If-None-Match, so an unchanged list costs a
 * 304. While the server admits no more live streams it polls the same way every few seconds.
 */
"use strict";
(function () {
  const rows = document.getElementById("build-rows");
  const cards = document.querySelectorAll("section.repo[data-repo]");
  if (!rows && !cards.length) return;
  const repos = rows ? [rows.dataset.repo] : Array.from(cards, (c) => c.dataset.repo).slice(0, 64);
  let tag = null;
  let timer = null;
  let busyWait = 0;

  async function refresh() {
    timer = null;
    const url = rows ? rows.dataset.poll : location.pathname + location.search;
    const headers = { Accept: rows ? "application/json" : "text/html" };
    if (tag) headers["If-None-Match"] = tag;
    let res;
    try {
      res = await RunnerLiveCore.fetchPatiently(url, { credentials: "same-origin", headers });
    } catch (e) { return; }
    if (res.status !== 200 || res.redirected) return;
    tag = res.headers.get("ETag");
    if (rows) {
      // The rows come rendered (and escaped) by the server's template.
      rows.innerHTML = (await res.json()).html;
      return;
    }
    // The home page, rendered by the server: each repository's branches are swapped in.
    const fresh = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const card of cards) {
      const sel = 'section.repo[data-repo="' + CSS.escape(card.dataset.repo) + '"]';
      const next = fresh.querySelector(sel);
      if (!next) continue;
      const oldList = card.querySelector(".branches") || card.querySelector(":scope > p.muted");
      const newList = next.querySelector(".branches") || next.querySelector(":scope > p.muted");
      if (oldList && newList) oldList.replaceWith(document.importNode(newList, true));
    }
  }

  function soon() { if (!timer) timer = setTimeout(refresh, 250); }

  async function pollWhileBusy() {
    while (busyWait > 0) {
      await refresh();
      await new Promise((r) => setTimeout(r, busyWait * 1000));
    }
  }

  const live = RunnerLive.open();
  live.on("build", (d) => { if (repos.indexOf(d.repo) >= 0) soon(); });
  live.onstatus = (s) => {
    const wasBusy = busyWait > 0;
    busyWait = s.state === "busy" ? Math.max(5, s.wait) : 0;
    if (busyWait && !wasBusy) pollWhileBusy();
    // On the stream (first, back, or shown again): changes made since the rows were rendered
    // are fetched once (the first time in full, then a 304 when there are none). The stream
    // tells only what happens after it opened: a build made while the page loaded would
    // otherwise never show.
    if (s.state === "live") soon();
  };
  live.follow({ repos });
})();
