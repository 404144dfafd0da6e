"""Substitution on the raw text of a pipeline file, before it is parsed, as drone/envsubst does
it (Drone 0.8, Drone 1.x and Woodpecker all call it; see docs/pipeline.md).

The version is v1.0.3, which Drone's runners and Woodpecker pin. Only the braced form is
replaced; a bare ``$VAR`` is left for the shell; ``$$`` is an escaped ``$``, and ``\\\\`` and
``\\/`` are one ``\\`` and ``/`` (v2 reads those two inside ``${...}`` only). The grammar and
the meaning of each operator are envsubst's, including where it differs from the shell:

- ``${VAR=d}``, ``${VAR:=d}``, ``${VAR:-d}``, ``${VAR:?d}`` and ``${VAR:+d}`` all give ``d``
  when VAR is empty or unset, else VAR; ``${VAR-d}`` and ``${VAR+d}`` are malformed.
- ``${VAR/p/r}``, ``${VAR//p/r}``, ``${VAR/#p/r}``, ``${VAR/%p/r}`` replace the text ``p``
  (no pattern); ``/#`` and ``/%`` need the second ``/``; ``\\/`` and ``\\\\`` escape there.
- ``${VAR#p}``, ``${VAR##p}``, ``${VAR%p}``, ``${VAR%%p}`` strip a glob match of at least one
  character (``runner.pipeline.envsubst_glob``).
- ``${VAR:pos}``, ``${VAR:pos:len}``: a position or length that is not an integer (`` -1``)
  leaves the value whole.
- ``${#VAR}`` the length; ``${VAR^}``, ``${VAR^^}``, ``${VAR,}``, ``${VAR,,}`` the case.
- A variable name is letters, digits and ``_`` (a leading digit too); an unknown one is empty.

A value holding a newline is inserted double-quoted and escaped, as Drone's variable lookup
does, so it cannot break the YAML around it. Lengths and positions count UTF-8 bytes, as
envsubst does (a character cut in two by a position is left out); case changes map one
character to one, as Go does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from runner.errors import BudgetExceeded, SubstitutionError
from runner.pipeline import limits
from runner.pipeline.envsubst_glob import trim_prefix, trim_suffix

_INTEGER = re.compile(r"[+-]?[0-9]+")
_SPECIAL = re.compile(r"[$\\]")
# In the arguments of ``/``: the character pairs that stand for their second character.
_ESCAPED = {"$": ("$",), "\\": ("/", "\\")}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "ignore")


def _upper(ch: str) -> str:
    """Go's unicode.ToUpper: one character for one (``ß`` stays, where Python gives ``SS``)."""
    up = ch.upper()
    return up if len(up) == len(ch) else ch


def _lower(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == len(ch) else ch


def _is_name_char(ch: str) -> bool:
    """Go's unicode.IsLetter or IsDigit, or ``_``: what envsubst takes in a name."""
    return ch.isalpha() or ch.isdecimal() or ch == "_"


def substitute(
    text: str,
    variables: Mapping[str, str],
    *,
    file: str = "",
    opaque: Mapping[str, str] | None = None,
) -> str:
    """Return ``text`` with every ``${...}`` expression replaced.

    ``opaque`` maps names to text inserted as it is (a placeholder the compiler resolves
    later, never seen by an operator): such a name may only appear as ``${NAME}`` or with a
    default; ``variables`` win over it. Raises ``SubstitutionError`` (with the line) for a
    malformed expression, ``BudgetExceeded`` when ``${...}`` are nested deeper than
    ``limits.MAX_SUBSTITUTION_DEPTH`` or the values inserted add up to more than
    ``limits.MAX_SUBSTITUTED_BYTES``. Pure: no environment is read besides ``variables``.
    """
    return _Reader(text, variables, opaque or {}, file).document()


@dataclass
class _Reader:
    """One pass over ``text``: reads an expression and evaluates it at once (an error anywhere
    fails the whole text, as in envsubst, which parses everything first)."""

    text: str
    variables: Mapping[str, str]
    opaque: Mapping[str, str]
    file: str
    pos: int = 0
    grown: int = 0  # bytes inserted so far, against MAX_SUBSTITUTED_BYTES
    read: int = 0  # variable text read so far, against MAX_SUBSTITUTION_READ_BYTES
    start: int = 0  # where the outermost expression being read starts, for its line
    depth: int = 0

    # Text ------------------------------------------------------------------------------------

    def document(self) -> str:
        text, n = self.text, len(self.text)
        out: list[str] = []
        while self.pos < n:
            found = _SPECIAL.search(text, self.pos)
            if found is None:
                out.append(text[self.pos :])
                break
            j = found.start()
            out.append(text[self.pos : j])
            nxt = text[j + 1 : j + 2]
            if text[j] == "\\":
                # envsubst v1.0.3 (what Drone's runners and Woodpecker pin) reads \\ and \/
                # as one character everywhere; its v2 only inside ${...}.
                out.append(nxt if nxt in ("/", "\\") else "\\")
                self.pos = j + (2 if nxt in ("/", "\\") else 1)
            elif nxt == "{":
                self.start, self.pos = j, j + 2
                value = self.expression()
                self.grow(len(value))
                out.append(value)
            elif nxt == "$":
                out.append("$")
                self.pos = j + 2
            else:
                out.append("$")
                self.pos = j + 1
        return "".join(out)

    def peek(self, ahead: int = 0) -> str:
        return self.text[self.pos + ahead : self.pos + ahead + 1]

    def take(self, allowed: str, most: int) -> str:
        """Up to ``most`` characters at the position that are in ``allowed``."""
        begin = self.pos
        while self.pos - begin < most and self.peek() and self.peek() in allowed:
            self.pos += 1
        return self.text[begin : self.pos]

    def name(self) -> str:
        begin = self.pos
        while self.pos < len(self.text) and _is_name_char(self.text[self.pos]):
            self.pos += 1
        return self.text[begin : self.pos]

    def close(self) -> None:
        if self.peek() != "}":
            raise self.error("missing closing brace: add the } that ends ${...}")
        self.pos += 1

    def argument(self, stops: str, *, escapes: bool = False) -> str:
        """One argument of an operator: a nested ``${...}``, or text up to a character of
        ``stops`` or a ``${``. With ``escapes``, ``$$``, ``\\/`` and ``\\\\`` are one
        character (envsubst allows them in the arguments of ``/`` only)."""
        if self.text.startswith("${", self.pos):
            self.pos += 2
            return self.nested()
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if text.startswith("${", self.pos):
                break
            if escapes and self.peek(1) in _ESCAPED.get(ch, ()):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch in stops:
                break
            out.append(ch)
            self.pos += 1
        if not out:
            raise self.error("missing argument or closing brace in ${...}")
        return "".join(out)

    # Expressions -----------------------------------------------------------------------------

    def nested(self) -> str:
        if self.depth + 1 >= limits.MAX_SUBSTITUTION_DEPTH:
            raise limits.over_budget(
                "${...} nested too deeply",
                limits.MAX_SUBSTITUTION_DEPTH,
                "levels of nested ${...}",
                file=self.file,
                line=self.line(),
            )
        self.depth += 1
        try:
            return self.expression()
        finally:
            self.depth -= 1

    def expression(self) -> str:
        """The value of the ``${...}`` whose ``${`` was just read."""
        if self.peek() == "#":
            self.pos += 1
            name = self.name()
            if not name:
                raise self.error("${#VAR} needs a variable name")
            self.close()
            return str(len(self.value(name, whole=False).encode("utf-8", "surrogatepass")))
        name = self.name()
        if not name:
            raise self.error(
                "invalid substitution: ${...} must start with a variable name "
                "(write $${...} to pass it to the shell unchanged)"
            )
        ch = self.peek()
        if ch == ":" and self.peek(1) in ("=", "-", "?", "+"):
            self.pos += 2
            return self.default(name)
        if ch == ":":
            self.pos += 1
            return self.substring(name)
        if ch == "=":
            self.pos += 1
            return self.default(name)
        if ch in (",", "^"):
            return self.case(name, self.take(",^", 2))
        if ch == "/":
            return self.replace(name)
        if ch in ("#", "%"):
            op = self.take(ch, 2)
            pattern = self.argument("}")
            self.close()
            value = self.value(name, whole=False)
            longest = len(op) == 2
            if ch == "#":
                return trim_prefix(value, pattern, longest=longest)
            return trim_suffix(value, pattern, longest=longest)
        if ch != "}":
            raise self.error(
                f"unsupported operator {ch!r} after ${{{name}: use one of = := :- # ## % %% "
                "^ ^^ , ,, :n :n:len /p/r //p/r /#p/r /%p/r, or write $${...} to leave it "
                "to the shell"
            )
        self.pos += 1
        return self.value(name, whole=True)

    def default(self, name: str) -> str:
        parts: list[str] = []
        while self.peek() != "}":
            parts.append(self.argument("}"))
        self.pos += 1
        value = self.value(name, whole=True)
        return value if value else "".join(parts)

    def substring(self, name: str) -> str:
        args = [self.argument(":}")]
        if self.peek() == ":":
            self.take(":", len(self.text))
            args.append(self.argument("}"))
        self.close()
        value = self.value(name, whole=False)
        if not _INTEGER.fullmatch(args[0]):
            return value  # as bash and envsubst: a position that is no number leaves it whole
        # envsubst counts UTF-8 bytes; a character cut in two is left out.
        data = value.encode("utf-8", "surrogatepass")
        pos = int(args[0])
        if pos < 0:
            pos = max(len(data) + pos, 0)
        if len(args) == 1:
            return _text(data[pos:])
        if not _INTEGER.fullmatch(args[1]):
            return value
        length = int(args[1])
        if length < 0:
            raise self.error(f"${{{name}:{args[0]}:{args[1]}}}: a length cannot be negative")
        return _text(data[pos : pos + length])

    def case(self, name: str, op: str) -> str:
        self.close()
        value = self.value(name, whole=False)
        if op == "^^":
            return "".join(_upper(c) for c in value)
        if op == ",,":
            return "".join(_lower(c) for c in value)
        if op == "^":
            return _upper(value[:1]) + value[1:]
        if op == ",":
            return _lower(value[:1]) + value[1:]
        return value  # ",^" and "^,": envsubst knows no such function and keeps the value

    def replace(self, name: str) -> str:
        self.pos += 1
        op = "/" + self.take("/#%", 1)
        args = [self.argument("/", escapes=True)]
        if self.peek() != "/":
            raise self.error(f"${{{name}{op}...}} needs a / after the text to replace")
        self.take("/", len(self.text))
        if self.peek() != "}":
            args.append(self.argument("}", escapes=True))
        self.close()
        value = self.value(name, whole=False)
        old, new = args[0], args[1] if len(args) > 1 else ""
        if op == "//":
            return self.replaced(value, old, new, -1)
        if op == "/":
            return self.replaced(value, old, new, 1)
        if len(args) != 2:
            return value  # envsubst's /# and /% need both texts
        if op == "/#":
            return new + value[len(old) :] if value.startswith(old) else value
        return value[: len(value) - len(old)] + new if value.endswith(old) else value

    def replaced(self, value: str, old: str, new: str, count: int) -> str:
        """``value`` with ``old`` replaced, its size counted before it is built:
        ``${X//a/${X}}`` squares the length of X."""
        found = value.count(old) if count < 0 else int(old in value)
        if old == "" and count < 0:
            found = len(value) + 1
        self.check_room(len(value) + found * (len(new) - len(old)))
        return value.replace(old, new, count)

    # Values ----------------------------------------------------------------------------------

    def value(self, name: str, *, whole: bool) -> str:
        """The variable's value as Drone's lookup gives it: empty when unknown, quoted when
        it holds a newline. An opaque name is inserted only ``whole``."""
        if name not in self.variables and name in self.opaque:
            if not whole:
                raise self.error(f"the secret {name} can only be substituted whole, as ${{{name}}}")
            return self.opaque[name]
        value = self.variables.get(name, "")
        self.read += len(value)
        if self.read > limits.MAX_SUBSTITUTION_READ_BYTES:
            raise limits.over_budget(
                "substitution reads too much variable text",
                limits.MAX_SUBSTITUTION_READ_BYTES,
                "bytes of variables read by substitution",
                file=self.file,
                line=self.line(),
                fix="use long variables such as the commit message fewer times",
            )
        return json.dumps(value, ensure_ascii=False) if "\n" in value else value

    def check_room(self, size: int) -> None:
        if self.grown + size > limits.MAX_SUBSTITUTED_BYTES:
            raise self.too_large()

    def grow(self, size: int) -> None:
        self.grown += size
        if self.grown > limits.MAX_SUBSTITUTED_BYTES:
            raise self.too_large()

    def line(self) -> int:
        return 1 + self.text.count("\n", 0, self.start)

    def too_large(self) -> BudgetExceeded:
        return limits.over_budget(
            "the file grows too large by substitution",
            limits.MAX_SUBSTITUTED_BYTES,
            "bytes after substitution",
            file=self.file,
            line=self.line(),
            fix="use fewer or shorter ${...} values",
        )

    def error(self, message: str) -> SubstitutionError:
        line_end = self.text.find("\n", self.start)
        line_end = len(self.text) if line_end < 0 else line_end
        snippet = self.text[self.start : min(line_end, self.start + 60)]
        return SubstitutionError(f"{message} (in {snippet!r})", file=self.file, line=self.line())
