"""The shared worker's memory of recent log chunks is bounded in characters, not only in chunks.

The worker (``webui/static/live-core.js``, ``LiveMux``) keeps the last chunks of each followed log
so that a tab joining a followed log gets what it lacks without reopening the stream. A chunk may
hold megabytes (the agent uploads up to 4 MiB at once), and the worker lives as long as any tab of
the browser, so 256 chunks of each log could reach a gigabyte. These tests drive the real script
in Chromium with log events as the stream delivers them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "webui" / "static" / "live-core.js"

FEED = """([logs, chunks, width]) => {
  const mux = new self.RunnerLiveCore.LiveMux();
  mux.reconcile = () => {};  // no stream: the events are fed by hand
  const line = "x".repeat(width);
  for (let seq = 0; seq < chunks; seq++) {
    for (let step = 1; step <= logs; step++) {
      mux.dispatch("log", { step, seq, lines: [line, line, line, line] });
    }
  }
  let held = 0;
  const kept = {};
  for (const [step, events] of mux.recent) {
    kept[step] = events.map((ev) => ev.seq);
    for (const ev of events) for (const l of ev.lines) held += l.length + 1;
  }
  return { held, counted: mux.recentChars, kept };
}"""


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto("about:blank")
    page.add_script_tag(content=CORE.read_text())
    yield page
    context.close()


@pytest.mark.browser
def test_big_chunks_of_several_logs_are_kept_within_the_character_budget(page):
    budget = 4 * 1024 * 1024  # RECENT_CHARS
    # Three logs of 40 chunks of 4 lines of 64 KiB: 30 MiB of text arrive, 4 MiB may stay.
    got = page.evaluate(FEED, [3, 40, 65536])
    assert got["counted"] == got["held"], got["counted"]
    assert got["held"] <= budget
    for step, seqs in got["kept"].items():
        # What is kept of a log is its newest chunks, without a gap, so a joining tab still
        # gets a contiguous run of lines.
        assert seqs == list(range(seqs[0], 40)), (step, seqs)
    assert "3" in got["kept"], "the log fed last keeps its newest chunk"


@pytest.mark.browser
def test_small_chunks_are_still_kept_up_to_the_chunk_count(page):
    got = page.evaluate(FEED, [2, 300, 10])
    assert got["counted"] == got["held"]
    assert {step: (seqs[0], len(seqs)) for step, seqs in got["kept"].items()} == {
        "1": (44, 256),
        "2": (44, 256),
    }
