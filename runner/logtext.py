"""Log text as a terminal shows it: the lines of a chunk, carriage returns applied, escapes known.

Every path that turns stored log bytes into lines (the tail, the live stream, line ranges,
search) splits them here, so line numbers agree everywhere: only ``\\n`` ends a line, as the
store's line counting has it. Within a line, ``\\r`` returns to its start and what follows
overwrites what was there (a progress bar becomes its last state; ``\\r\\n`` is a plain end
of line). Colour escapes stay in the text for the page to render; the state they set is kept
across an overwrite. The raw download keeps the bytes as they were sent.
"""

from __future__ import annotations

import re

# Escape sequences as the page's renderer knows them: CSI (colours, cursor), OSC (titles,
# hyperlinks) ended by BEL or ST, charset selection, and any other two-character escape.
ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b.?",
    re.DOTALL,
)
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_RESET_SGR = {"", "0"}
_OSC8 = "\x1b]8;"
_LINK_END = "\x1b]8;;\x1b\\"
# The cell-by-cell pass that keeps colours across an overwrite costs a Python object per
# character: one chunk spends at most this many characters on it, a line at most
# STYLED_OVERWRITE_CHARS. Lines beyond are overwritten as plain text (their colours dropped),
# so a log written to be expensive costs what a plain one does.
STYLED_OVERWRITE_CHARS = 16 * 1024
STYLED_OVERWRITE_BUDGET = 64 * 1024
# A log chunk's time since its step started, in ms, is at most this (a 32-bit column: ~24.8 days).
MAX_ELAPSED_MS = 2**31 - 1


def count_lines(data: bytes) -> int:
    """How many lines ``split_lines`` makes of a chunk's bytes, without decoding them."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def split_lines(data: bytes | str) -> list[str]:
    """The lines of one stored chunk: split at ``\\n`` only (a chunk ends its last line), each
    with its carriage returns applied (``terminal_line``)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "\r" not in text:
        return lines
    budget = STYLED_OVERWRITE_BUDGET
    out = []
    for line in lines:
        if "\r" in line and "\x1b" in line:
            styled = len(line) <= min(budget, STYLED_OVERWRITE_CHARS)
            budget -= len(line) if styled else 0
            out.append(_styled_overwrite(line) if styled else _overwrite(plain(line).split("\r")))
        else:
            out.append(terminal_line(line))
    return out


def plain(line: str) -> str:
    """The line without escape sequences: the characters a reader sees."""
    return ESCAPE.sub("", line) if "\x1b" in line else line


def terminal_line(line: str) -> str:
    """``line`` as a terminal leaves it: each ``\\r`` moves back to the start of the line and
    the text after it overwrites the characters there, one per character."""
    if "\r" not in line:
        return line
    if "\x1b" not in line:
        return _overwrite(line.split("\r"))
    if len(line) > STYLED_OVERWRITE_CHARS:
        return _overwrite(plain(line).split("\r"))
    return _styled_overwrite(line)


def _overwrite(segments: list[str]) -> str:
    cells = list(segments[0])
    for segment in segments[1:]:
        cells[: len(segment)] = segment
    return "".join(cells)


def _styled_overwrite(line: str) -> str:
    """Overwrite cell by cell, each cell remembering the colours and link it was written with,
    so that what survives of an older write keeps its look."""
    chars: list[str] = []
    looks: list[tuple[str, str]] = []
    sgr, link = "", ""  # colour escapes since the last reset; the open OSC 8 link
    for segment in line.split("\r"):
        col = 0
        pos = 0
        for match in ESCAPE.finditer(segment):
            col = _put(chars, looks, col, segment[pos : match.start()], (sgr, link))
            pos = match.end()
            code = match.group()
            found = _SGR.fullmatch(code)
            if found:
                sgr = "" if found.group(1) in _RESET_SGR else sgr + code
            elif code.startswith(_OSC8):
                target = code[len(_OSC8) :].split(";", 1)[-1].rstrip("\x07").removesuffix("\x1b\\")
                link = code if target else ""
        _put(chars, looks, col, segment[pos:], (sgr, link))
    out: list[str] = []
    shown = ("", "")
    for char, look in zip(chars, looks, strict=True):
        out.append(_switch(shown, look))
        shown = look
        out.append(char)
    out.append(_switch(shown, (sgr, link)))
    return "".join(out)


def _put(
    chars: list[str], looks: list[tuple[str, str]], col: int, text: str, look: tuple[str, str]
) -> int:
    end = col + len(text)
    chars[col:end] = text
    looks[col:end] = [look] * len(text)
    return end


def _switch(old: tuple[str, str], new: tuple[str, str]) -> str:
    """Escapes that take the renderer from the look ``old`` to ``new``."""
    out = ""
    if old[0] != new[0]:
        out += "\x1b[0m" + new[0]
    if old[1] != new[1]:
        out += new[1] or _LINK_END
    return out
