/* The log's controls: follow, times, search, deep links and the window of lines around a hit.
 *
 * When the page holds the whole log, search looks at its rows. When it does not (the log is
 * longer than the rows a page keeps), search asks the server, which reads the whole stored log
 * (…/logs/STAGE/STEP/search), and a hit or a deep link (#L190000) the page does not hold loads
 * the lines around it (…/lines) into a window shown in place of the tail; "Back to the end"
 * (or Follow) returns to the tail, which kept following meanwhile. Texts from the server reach
 * the page through textContent only.
 */
"use strict";
(function () {
  const WINDOW_BEFORE = 100; // lines loaded above a hit or a deep-linked line
  const WINDOW_LINES = 250;
  const MORE_LINES = 500; // lines added when the reader asks for earlier or later ones
  const HITS_PAGE = 1000; // matching lines asked for at a time
  const MAX_HITS = 20000; // matching line numbers the page keeps at most
  const TYPING_MS = 250; // quiet time after a keystroke before asking the server
  const TIMES_KEY = "runner.log.times"; // localStorage: "1" while the reader wants line times

  function apiUrls(box) {
    // The API's address of the step's log (data-log-api); its search and line ranges are below.
    const base = box.dataset.logApi;
    return { search: base + "/search", lines: base + "/lines" };
  }

  async function getJson(url) {
    const res = await RunnerLiveCore.fetchPatiently(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) {
      let why = "HTTP " + res.status;
      try { why = (await res.json()).error || why; } catch (e) { /* not JSON */ }
      throw new Error(why);
    }
    return res.json();
  }

  function plural(n, one, many) { return n.toLocaleString() + " " + (n === 1 ? one : many); }

  function attachControls(view, box) {
    // Read at each use: the build page may switch to another step's log in place.
    const urls = { get search() { return apiUrls(box).search; }, get lines() { return apiUrls(box).lines; } };
    const followBox = document.getElementById("follow");
    const search = document.getElementById("log-search");
    const hitsOut = document.getElementById("log-hits");
    const note = document.getElementById("log-note");
    const bar = document.createElement("p");
    bar.className = "log-window";
    bar.id = "log-window";
    bar.hidden = true;
    const barText = document.createElement("span");
    const earlier = button("Earlier lines", "log-earlier");
    const later = button("Later lines", "log-later");
    const back = button("Back to the end", "log-back");
    bar.append(barText, " ", earlier, " ", later, " ", back);
    box.parentNode.insertBefore(bar, box);
    let capNote = "";
    // A search over the whole log: the matching line numbers known so far, their count over
    // the part searched, and where the next pass starts (null once the whole log was read).
    let found = null;
    let generation = 0;
    let typing = null;

    function button(text, id) {
      const b = document.createElement("button");
      b.type = "button";
      b.id = id;
      b.textContent = text;
      return b;
    }

    view.onchange = () => {
      followBox.checked = view.follow && !view.windowed;
      const parts = [];
      if (view.dropped > 0 && !view.windowed) {
        const last = view.lastLine();
        parts.push("Showing lines " + (view.dropped + 1).toLocaleString() + "–" + last.toLocaleString() +
          " of " + last.toLocaleString() + "; search and line links reach the others; download the raw log for all of them.");
      }
      if (capNote) parts.push(capNote);
      note.hidden = parts.length === 0;
      note.textContent = parts.join(" ");
      bar.hidden = !view.windowed;
      if (view.windowed) {
        barText.textContent = "Showing lines " + view.windowed.first.toLocaleString() + "–" +
          view.windowed.last.toLocaleString() + " of " + view.lastLine().toLocaleString() + ".";
        earlier.disabled = view.windowed.first <= 1;
        later.disabled = view.windowed.last >= view.lastLine();
      }
    };

    async function loadAround(line) {
      const first = Math.max(1, line - WINDOW_BEFORE);
      const got = await getJson(urls.lines + "?from=" + first + "&count=" + WINDOW_LINES);
      if (!got.lines.length) return null;
      view.showWindow(got.first_line, got.lines, got.times);
      return document.getElementById("L" + line);
    }

    /* The row of line ``n``: in the tail (once rendered), else in a window of the lines
     * around it loaded from the server. */
    async function rowOf(n) {
      if (!view.windowed && n > view.dropped && n <= view.lastLine()) {
        while (!document.getElementById("L" + n) && (view.pending.length || view.older.length) &&
          !view.windowed) {
          await new Promise((r) => requestAnimationFrame(r));
        }
      }
      const row = document.getElementById("L" + n);
      if (row || (!view.windowed && n > view.dropped)) return row;
      return loadAround(n);
    }

    async function jumpTo(n, cls) {
      try {
        const row = await rowOf(n);
        if (!row) return;
        for (const el of box.querySelectorAll(".ln." + cls)) el.classList.remove(cls);
        row.classList.add(cls);
        view.setFollow(false);
        view.reveal(row);
      } catch (e) {
        hitsOut.textContent = String(e.message || e);
      }
    }

    function showCount() {
      if (!found) return;
      const total = plural(found.count, "matching line", "matching lines");
      hitsOut.textContent = (found.cur >= 0 ? (found.cur + 1).toLocaleString() + " of " : "") + total +
        (found.next !== null ? " so far, searching…" : "");
    }

    /* One pass of the server's search; ``after`` > the last hit known continues the hit list. */
    async function searchPass(query, after, mine) {
      const url = urls.search + "?q=" + encodeURIComponent(query) + "&after=" + after + "&limit=" + HITS_PAGE;
      const got = await getJson(url);
      if (mine !== generation) return null;
      return got;
    }

    async function serverSearch(query) {
      const mine = ++generation;
      found = { query, lines: [], count: 0, next: 0, cur: -1 };
      hitsOut.textContent = "searching…";
      try {
        // Count over the whole log pass after pass. Each pass lists its first hits; they join
        // the list only while it holds every hit before them.
        let listedAll = true;
        let after = 0;
        while (after !== null) {
          const got = await searchPass(query, after, mine);
          if (!got) return;
          found.count += got.count;
          if (listedAll) {
            addHits(got.lines);
            listedAll = got.lines.length === got.count;
          }
          found.next = got.next;
          after = got.next;
          showCount();
          if (found.cur < 0 && found.lines.length) {
            view.markLines(new Set(found.lines));
            await stepServer(1);
          }
        }
        view.markLines(new Set(found.lines));
        showCount();
      } catch (e) {
        if (mine === generation) hitsOut.textContent = "search failed: " + String(e.message || e);
      }
    }

    /* Append hits in order (a pass and a request for more hits may answer the same lines). */
    function addHits(matches) {
      for (const m of matches) {
        const last = found.lines.length ? found.lines[found.lines.length - 1] : 0;
        if (m.line > last && found.lines.length < MAX_HITS) found.lines.push(m.line);
      }
    }

    /* More hit numbers after the last one known (the first pass listed only the first ones). */
    async function moreHits() {
      const last = found.lines[found.lines.length - 1] || 0;
      const mine = generation;
      const got = await searchPass(found.query, last, mine);
      if (!got) return false;
      const before = found.lines.length;
      addHits(got.lines);
      view.markLines(new Set(found.lines));
      return found.lines.length > before;
    }

    async function stepServer(dir) {
      if (!found || !found.lines.length) return;
      let i = found.cur + dir;
      if (i >= found.lines.length) {
        const listed = found.lines.length < found.count && found.lines.length < MAX_HITS;
        if (!(listed && (await moreHits()))) i = 0;
      }
      if (i < 0) i = found.lines.length - 1;
      found.cur = i;
      showCount();
      await jumpTo(found.lines[i], "cur");
    }

    function clearSearch() {
      generation++;
      found = null;
      view.markLines(new Set());
      for (const el of box.querySelectorAll(".ln.cur")) el.classList.remove("cur");
      view.search("");
      hitsOut.textContent = "";
    }

    function runSearch() {
      clearTimeout(typing);
      const query = search.value;
      if (!query.trim()) { clearSearch(); return; }
      if (view.holdsAll()) {
        clearSearch();
        const n = view.search(query);
        hitsOut.textContent = plural(n, "matching line", "matching lines");
        if (n) view.step(1);
        return;
      }
      typing = setTimeout(() => serverSearch(query), TYPING_MS);
    }

    function stepHits(dir) {
      if (found) stepServer(dir); else view.step(dir);
    }

    followBox.addEventListener("change", () => view.setFollow(followBox.checked));
    attachTimes(box);
    search.addEventListener("input", runSearch);
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); stepHits(e.shiftKey ? -1 : 1); }
      if (e.key === "Escape") { search.value = ""; runSearch(); }
    });
    document.getElementById("search-next").addEventListener("click", () => stepHits(1));
    document.getElementById("search-prev").addEventListener("click", () => stepHits(-1));
    document.addEventListener("keydown", (e) => {
      if (e.key === "/" && document.activeElement.tagName !== "INPUT") { e.preventDefault(); search.focus(); }
    });
    back.addEventListener("click", () => { view.backToTail(); box.focus(); });
    earlier.addEventListener("click", async () => {
      const first = Math.max(1, view.windowed.first - MORE_LINES);
      const got = await getJson(urls.lines + "?from=" + first + "&count=" + (view.windowed.first - first));
      view.extendWindow(got.first_line, got.lines, true, got.times);
    });
    later.addEventListener("click", async () => {
      const got = await getJson(urls.lines + "?from=" + (view.windowed.last + 1) + "&count=" + MORE_LINES);
      view.extendWindow(got.first_line, got.lines, false, got.times);
    });

    function followHash() {
      const target = location.hash.match(/^#L(\d+)$/);
      if (target) jumpTo(parseInt(target[1], 10), "target");
    }
    window.addEventListener("hashchange", followHash);
    // The deep link of the address is opened once the tail is in (the page sets data-ready).
    let opened = false;
    function openLink() {
      if (opened) return;
      opened = true;
      requestAnimationFrame(followHash);
    }
    new MutationObserver((changes, observer) => {
      if (box.dataset.ready === "1") { observer.disconnect(); openLink(); }
    }).observe(box, { attributes: true, attributeFilter: ["data-ready"] });

    return {
      /* Optional, once the tail is shown: notes the size cap (and opens a deep-linked line). */
      tailLoaded(tail) {
        if (tail.cut_bytes > 0) {
          capNote = "The log passed the size cap: its first " + tail.cut_bytes.toLocaleString() +
            " bytes were dropped, and line numbers count from the first line kept.";
        }
        view.onchange();
        openLink();
      },
    };
  }

  /* The "Times" switch: each line's time since its step started in a column beside its number,
   * the reader's choice kept in localStorage (off until asked for). */
  function attachTimes(box) {
    const times = document.getElementById("log-times");
    if (!times) return;
    let stored = null;
    try { stored = localStorage.getItem(TIMES_KEY); } catch (e) { /* storage refused */ }
    times.checked = stored === "1";
    box.classList.toggle("times", times.checked);
    times.addEventListener("change", () => {
      box.classList.toggle("times", times.checked);
      try { localStorage.setItem(TIMES_KEY, times.checked ? "1" : "0"); } catch (e) { /* kept for this page only */ }
    });
  }

  window.RunnerLog = Object.assign(window.RunnerLog || {}, { attachControls });
})();
