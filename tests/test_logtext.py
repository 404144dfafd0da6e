"""Log text as a terminal shows it: lines split at \\n only, carriage returns overwriting from
the start of the line with the colours and links each cell was written with, escapes removed
for matching."""

from __future__ import annotations

from runner.logtext import (
    STYLED_OVERWRITE_BUDGET,
    STYLED_OVERWRITE_CHARS,
    plain,
    split_lines,
    terminal_line,
)


def test_only_newline_ends_a_line_and_crlf_is_a_plain_end():
    assert split_lines(b"a\r\nb\n\nc\x0bd\x1ce\n") == ["a", "b", "", "c\x0bd\x1ce"]
    assert split_lines(b"no end") == ["no end"]
    assert split_lines(b"") == []


def test_a_progress_bar_shows_its_last_state():
    assert terminal_line("10%\r20%\r100%") == "100%"
    assert terminal_line("Downloading 50%\rDone") == "Doneloading 50%"
    assert terminal_line("kept\r") == "kept"


def test_an_overwrite_keeps_the_colour_each_character_was_written_in():
    shown = terminal_line("\x1b[31mred text\r\x1b[0mok")
    assert plain(shown) == "okd text"
    assert shown == "ok\x1b[0m\x1b[31md text\x1b[0m"


def test_an_overwrite_keeps_a_hyperlink_on_the_characters_left_of_it():
    link = "\x1b]8;;https://example.com\x1b\\"
    shown = terminal_line(f"{link}link\x1b]8;;\x1b\\ tail\rAB")
    assert plain(shown) == "ABnk tail"
    assert shown == f"AB{link}nk\x1b]8;;\x1b\\ tail"


def test_a_huge_styled_line_is_overwritten_as_plain_text():
    line = "\x1b[1m" + "x" * STYLED_OVERWRITE_CHARS + "\ry"
    assert terminal_line(line) == "y" + "x" * (STYLED_OVERWRITE_CHARS - 1)


def test_plain_removes_every_kind_of_escape():
    assert plain("\x1b[1;31mred\x1b[0m \x1b]0;title\x07\x1b[2Kend\x1b(B!") == "red end!"


def test_a_chunk_spends_a_bounded_budget_on_keeping_colours_across_overwrites():
    # A log written to be expensive: many styled lines that overwrite themselves. Past the
    # chunk's budget they are overwritten as plain text; what a reader sees stays the same.
    styled = "\x1b[31mAB\x1b[0m\rC"
    count = STYLED_OVERWRITE_BUDGET // len(styled) * 2
    lines = split_lines("\n".join([styled] * count))
    assert len(lines) == count
    assert lines[0] != "CB" and plain(lines[0]) == "CB"  # colour kept while the budget lasts
    assert lines[-1] == "CB"  # beyond it: plain text
    assert {plain(line) for line in lines} == {"CB"}
