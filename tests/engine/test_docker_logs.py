"""Lines are cut from attach-stream chunks whatever the chunk boundaries, and overlong
output is handed over in bounded pieces, marked as pieces and cut between characters."""

from __future__ import annotations

from runner.engine.docker_logs import MAX_LINE, LinePiece, pump_lines


class Stream:
    def __init__(self, chunks):
        self.chunks = chunks
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.closed = True


def test_lines_split_across_chunks_and_a_last_line_without_newline():
    lines = []
    stream = Stream([b"he", b"llo\r\nwor", b"ld\n\xff\n", b"tail"])
    pump_lines(stream, lines.append)
    assert lines == ["hello", "world", "\ufffd", "tail"] and stream.closed


def test_overlong_output_is_cut_into_bounded_pieces():
    lines = []
    pump_lines(Stream([b"x" * (MAX_LINE * 2 + 10)]), lines.append)
    assert [len(line) for line in lines] == [MAX_LINE, MAX_LINE, 10]
    # The pieces say the line goes on (secret masking looks across them); the end does not.
    assert [isinstance(line, LinePiece) for line in lines] == [True, True, False]


def test_a_piece_is_never_cut_inside_a_utf8_character():
    lines = []
    data = ("x" * (MAX_LINE - 1) + "é" + "tail").encode()
    pump_lines(Stream([data, b"\n"]), lines.append)
    assert lines == ["x" * (MAX_LINE - 1), "étail"]
