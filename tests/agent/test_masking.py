"""Secret values, including each line of a multi-line secret and a secret cut by the split of
a long line, never survive in a log line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.agent.masking import MASK, Masker
from runner.engine.docker_logs import LinePiece


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


def test_a_secret_cut_by_the_long_line_split_is_masked_across_pieces():
    seen = []
    sink = Masker(["s3cr3t-value"]).wrap(seen.append)
    sink(LinePiece("x" * 10 + "s3cr3t"))
    sink(LinePiece("-value" + "y" * 10))
    sink("tail")
    assert "".join(seen) == "x" * 10 + MASK + "y" * 10 + "tail"
    assert all("s3cr3t" not in line and "value" not in line for line in seen)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.text(alphabet="ab-", max_size=40),
    suffix=st.text(alphabet="ab-", max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
)
def test_pieces_are_masked_as_the_whole_line_would_be(prefix, suffix, cuts):
    secrets = ["a-b-secret", "secret-b"]
    masker = Masker(secrets)
    line = prefix + "a-b-secret" + suffix + "secret-b" + prefix
    bounds = sorted({c for c in cuts if 0 < c < len(line)})
    pieces = [line[i:j] for i, j in zip([0, *bounds], [*bounds, len(line)], strict=True)]
    seen = []
    sink = masker.wrap(seen.append)
    for piece in pieces[:-1]:
        sink(LinePiece(piece))
    sink(pieces[-1])
    assert "".join(seen) == masker.mask(line)
