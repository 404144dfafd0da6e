"""Secret values, including each line of a multi-line secret, never survive in a log line."""

from __future__ import annotations

from runner.agent.masking import MASK, Masker


def test_single_and_overlapping_secrets_are_masked():
    masker = Masker(["hunter2", "hunter2-extended", ""])
    assert masker.mask("pw=hunter2 and hunter2-extended.") == f"pw={MASK} and {MASK}."
    assert masker.mask("nothing here") == "nothing here"


def test_multi_line_secret_is_masked_line_by_line():
    key = "-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----\n"
    masker = Masker([key])
    lines = [masker.mask(line) for line in key.splitlines()]
    assert lines == [MASK] * 4


def test_regex_characters_are_taken_literally_and_wrap_masks_before_the_sink():
    seen = []
    sink = Masker(["a.b*c"]).wrap(seen.append)
    sink("x a.b*c y axbbc")
    assert seen == [f"x {MASK} y axbbc"]


def test_no_secrets_passes_lines_through():
    masker = Masker([])
    assert not masker and masker.wrap(print) is print
