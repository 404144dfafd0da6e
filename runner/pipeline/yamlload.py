"""YAML reading with source lines: the first step after substitution.

``load_documents`` turns text into plain Python values whose mappings and sequences remember
the line of each key and item (``YMap``/``YList``). It applies ``<<`` merges (mapping merges,
and Woodpecker's sequence merge ``- <<: *anchor`` that splices a list into a list). Of duplicate
keys the last one wins, with a warning, as Drone 1.x's YAML decoder does; the exception is a
top-level map of steps (``pipeline:``, ``steps:``, ``services:``), which keeps every entry in
file order (``YMap.entries``), as Drone 0.8 and Woodpecker read it: both run a step written
twice. Numbers keep their source text (``3.10`` stays ``"3.10"`` when used as text).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.issues import IssueList

try:  # the C composer is several times faster; the pure one gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is part of the usual PyYAML wheel
    from yaml import SafeLoader as _Loader

MERGE_TAG = "tag:yaml.org,2002:merge"


class YMap(dict[str, Any]):
    """A mapping that knows its line and the line of each key.

    A top-level map of steps also keeps ``repeated``: every ``(key, value, line)`` in file
    order, duplicates included, when a key was written more than once (``entries``)."""

    def __init__(self, line: int = 0):
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}
        self.repeated: list[tuple[str, Any, int]] | None = None

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def entries(self) -> list[tuple[str, Any, int]]:
        """Every ``(key, value, line)`` in file order; a key written twice appears twice
        where the map keeps repeats (a top-level map of steps), once otherwise."""
        if self.repeated is not None:
            return list(self.repeated)
        return [(key, value, self.line_of(key)) for key, value in self.items()]


def map_entries(value: dict[str, Any], default_line: int = 0) -> list[tuple[str, Any, int]]:
    """``YMap.entries`` of any mapping (a plain dict has no lines: ``default_line``)."""
    if isinstance(value, YMap):
        return value.entries()
    return [(str(key), item, default_line) for key, item in value.items()]


class YList(list[Any]):
    """A sequence that knows its line and the line of each item."""

    def __init__(self, line: int = 0):
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class YInt(int):
    """An integer that remembers how it was written."""

    raw: str


class YFloat(float):
    """A float that remembers how it was written (``3.10``, ``22.04``)."""

    raw: str


def line_of(value: Any, default: int = 0) -> int:
    """The line a mapping or sequence started at, or ``default``."""
    return getattr(value, "line", default) or default


def to_text(value: Any) -> str:
    """A scalar as the text a shell variable would hold (``true``, ``3.10``, ``""`` for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    raw = getattr(value, "raw", None)
    if raw is not None:
        return str(raw)
    return str(value)


class _Converter:
    def __init__(self, loader: Any, issues: IssueList) -> None:
        self.loader = loader
        self.issues = issues
        self.count = 0

    def convert(self, node: yaml.Node, path: str = "") -> Any:
        # check_budget has counted the expanded values already; this guards the same limit
        # should the two ever disagree, as the composed nodes are what is expanded here.
        self.count += 1
        if self.count > limits.MAX_YAML_VALUES:
            raise _too_many_values(self.issues.file, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node, path)
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError:
            # An integer of more digits than Python converts: kept as the text it is, which
            # is what a shell variable holds, and what a number field refuses with its line.
            return node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int):
            out = YInt(value)
            out.raw = node.value
            return out
        if isinstance(value, float):
            real = YFloat(value)
            real.raw = node.value
            return real
        return node.value  # dates, binary: keep the text

    def _mapping(self, node: yaml.MappingNode, path: str) -> YMap:
        out = YMap(node.start_mark.line + 1)
        merged: list[tuple[str, Any, int]] = []
        # Drone 0.8 read its step maps as an ordered list of pairs (cncd/pipeline
        # frontend/yaml/container.go, Containers.UnmarshalYAML over a yaml.MapSlice), and so
        # does Woodpecker (types/container_list.go, ContainerList.UnmarshalYAML over the
        # node's content): a step written twice runs twice.
        ordered: list[tuple[str, Any, int]] | None = [] if _STEP_MAP.match(path) else None
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG or (
                isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<"
            ):
                merged.extend(self._merge_sources(value_node, line))
                continue
            key = self._key(key_node)
            key_path = f"{path}.{key}" if path else key
            if ordered is not None:
                value = self.convert(value_node, key_path)
                ordered.append((key, value, line))
                if key not in out:
                    out[key] = value
                    out.key_lines[key] = line
                continue
            if key in out:
                self.issues.warning(
                    line,
                    key_path,
                    f'duplicate key "{key}" (first on line {out.key_lines[key]}); '
                    "the last one wins: remove or rename one of them",
                )
            out[key] = self.convert(value_node, key_path)
            out.key_lines[key] = line
        for key, value, line in merged:
            if key not in out:  # explicit keys win over merged ones
                out[key] = value
                out.key_lines[key] = line
                if ordered is not None:
                    ordered.append((key, value, line))
        if ordered is not None and len(ordered) > len(out):
            out.repeated = ordered
        return out

    def _merge_sources(self, value_node: yaml.Node, line: int) -> list[tuple[str, Any, int]]:
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        items: list[tuple[str, Any, int]] = []
        for source in sources:
            value = self.convert(source)
            if not isinstance(value, YMap):
                raise PipelineError(
                    "a << merge needs a mapping (an anchor of a map) here",
                    file=self.issues.file,
                    line=line,
                )
            for key, item in value.items():
                if not any(k == key for k, _, _ in items):
                    items.append((key, item, value.line_of(key)))
        return items

    def _sequence(self, node: yaml.SequenceNode, path: str) -> YList:
        out = YList(node.start_mark.line + 1)
        for item in node.value:
            line = item.start_mark.line + 1
            spliced = self._sequence_merge(item, path)
            if spliced is not None:
                out.extend(spliced)
                out.item_lines.extend(spliced.item_lines)
                continue
            out.append(self.convert(item, f"{path}[{len(out)}]"))
            out.item_lines.append(line)
        return out

    def _sequence_merge(self, item: yaml.Node, path: str) -> YList | None:
        """Woodpecker's ``- <<: *list``: a one-key merge whose value is an anchored sequence
        (an alias points back to an earlier node), or an inline list of plain values."""
        if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
            return None
        key_node, value_node = item.value[0]
        is_merge = key_node.tag == MERGE_TAG or getattr(key_node, "value", None) == "<<"
        if not is_merge or not isinstance(value_node, yaml.SequenceNode):
            return None
        is_alias = value_node.start_mark.index < key_node.start_mark.index
        maps_only = all(isinstance(v, yaml.MappingNode) for v in value_node.value)
        if value_node.value and maps_only and not is_alias:
            return None  # `- <<: [*a, *b]`: maps merged into this one map, as YAML says
        return self._sequence(value_node, path)

    def _key(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        raise PipelineError(
            "a mapping key must be a plain value, not a list or a map",
            file=self.issues.file,
            line=node.start_mark.line + 1,
        )


# The path of a top-level map of steps, in the first document or a later one.
_STEP_MAP = re.compile(r"^(?:\[\d+\]\.)?(?:pipeline|steps|services)$")


def _too_many_values(file: str, line: int) -> PipelineError:
    return limits.over_budget(
        "the file expands to too many values (anchors used too often?)",
        limits.MAX_YAML_VALUES,
        "YAML values after alias expansion",
        file=file,
        line=line,
    )


def check_size(text: str, file: str) -> None:
    """Raise ``BudgetExceeded`` when ``text`` is larger than ``limits.MAX_FILE_BYTES``."""
    if len(text) > limits.MAX_FILE_BYTES:
        limits.check_file_size(len(text.encode(errors="surrogatepass")), file)


def check_budget(text: str, file: str) -> None:
    """Refuse ``text`` before it is composed when it is over a YAML budget of
    ``runner.pipeline.limits``: size, documents, nesting depth, alias references, values
    after alias expansion (counted, not expanded) or a recursive alias (``a: &a [*a]``).

    Reads only the parser's events (libyaml keeps its own stack, so any depth is safe here,
    while composing a deeply nested file can exhaust the C stack). Raises ``BudgetExceeded``
    with the line. Malformed YAML ends the check quietly: whoever composes the text reports
    it with its line (and raw text may be valid YAML only once substituted).
    """
    check_size(text, file)
    if _plainly_within_budget(text):
        return
    loader = _Loader(text)
    try:
        _scan_events(loader, file)
    except yaml.YAMLError as exc:
        # Newer libyaml refuses deep flow nesting itself, while scanning ahead of the events
        # counted here: the same budget, reported as such.
        if "nesting depth" in str(exc):
            mark = getattr(exc, "problem_mark", None)
            raise limits.over_budget(
                "the YAML is nested too deeply",
                limits.MAX_NESTING,
                "levels of nested maps and lists",
                file=file,
                line=mark.line + 1 if mark is not None else 0,
            ) from None
    finally:
        loader.dispose()


# Text that can only be an anchor: a ``&`` starting a node, not a shell's ``&&`` or ``a&b``.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&(?!&)\S", re.MULTILINE)
# A line's indentation with the block indicators on it ("- - - x" nests three lists).
_INDENT = re.compile(r"^[ ?-]*", re.MULTILINE)


def _plainly_within_budget(text: str) -> bool:
    """Whether ``text`` is within every budget of the event scan on its face, so the scan
    can be skipped (most real files): no anchor, so no alias expands; fewer lines than the
    steps limit and few flow brackets, so no more steps than allowed; shallow indentation and
    few brackets, so no deep nesting (a level of block nesting takes at least half a column
    more indentation or block indicators); fewer document markers than the documents limit."""
    if len(text) > limits.MAX_STEPS * 64 or text.count("\n") >= limits.MAX_STEPS:
        return False
    brackets = text.count("[") + text.count("{")
    if brackets >= limits.MAX_NESTING // 2 or text.count("---") >= limits.MAX_DOCUMENTS:
        return False
    if _ANCHOR.search(text):
        return False
    deepest = max(map(len, _INDENT.findall(text)), default=0)
    return 2 * deepest + brackets + 2 < limits.MAX_NESTING


_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_START_MAPPING = yaml.MappingStartEvent
_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END_SEQUENCE, _END_MAPPING = yaml.SequenceEndEvent, yaml.MappingEndEvent
_DOCUMENT_START, _STREAM_END = yaml.DocumentStartEvent, yaml.StreamEndEvent

# Top-level keys whose items are steps in one of the dialects (a list or a map of steps).
_STEP_KEYS = ("steps", "pipeline", "services")


class _Open:
    """A map or list being read by ``_scan_events``."""

    __slots__ = ("anchor", "started", "is_map", "key_next", "key", "key_line", "holds_steps")

    def __init__(self, anchor: str | None, started: int, is_map: bool, holds_steps: bool) -> None:
        self.anchor = anchor
        self.started = started  # ``expanded`` when it started
        self.is_map = is_map
        self.key_next = True  # in a map: the next node is a key
        self.key = ""  # in a map: the last key read
        self.key_line = 0
        self.holds_steps = holds_steps


def _scan_events(loader: Any, file: str) -> None:
    # One pass over the events. ``expanded`` counts the values the file would have with every
    # alias expanded; ``sizes`` holds the expanded size of every anchor, so an alias costs
    # what its expansion would cost without anything being expanded. Steps are counted too
    # (items of a top-level steps/pipeline/services), so 5,000 steps are refused before they
    # are composed; parse_file counts them exactly later. Every event of every load passes
    # here, hence the plain type tests.
    open_: list[_Open] = []
    sizes: dict[str, int] = {}
    documents = aliases = expanded = steps = 0
    get_event = loader.get_event
    while True:
        event = get_event()
        kind = type(event)
        if kind is _END_SEQUENCE or kind is _END_MAPPING:
            done = open_.pop()
            if done.anchor:
                sizes[done.anchor] = expanded - done.started + 1
            continue
        if kind is not _SCALAR and kind is not _ALIAS and kind not in _STARTS:
            if kind is _DOCUMENT_START:
                documents += 1
                if documents > limits.MAX_DOCUMENTS:
                    raise limits.over_budget(
                        "too many YAML documents",
                        limits.MAX_DOCUMENTS,
                        "documents",
                        file=file,
                        line=event.start_mark.line + 1,
                    )
            elif kind is _STREAM_END:
                return
            continue
        # A node: a key or value of the enclosing map, or an item of the enclosing list.
        parent = open_[-1] if open_ else None
        is_key = False
        if parent is not None:
            if parent.is_map:
                is_key = parent.key_next
                parent.key_next = not is_key
                if is_key:
                    parent.key = event.value if kind is _SCALAR else ""
                    parent.key_line = event.start_mark.line + 1
            if parent.holds_steps and not is_key:
                steps += 1
                if steps > limits.MAX_STEPS:
                    raise limits.over_budget(
                        f"the file has more than {limits.MAX_STEPS} steps",
                        limits.MAX_STEPS,
                        "steps per build",
                        file=file,
                        line=parent.key_line if parent.is_map else event.start_mark.line + 1,
                        fix="split the work over fewer, larger steps",
                    )
        if kind is _SCALAR:
            expanded += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif kind is _ALIAS:
            expanded += _alias_size(event, open_, sizes, file)
            aliases += 1
            if aliases > limits.MAX_ALIASES:
                raise limits.over_budget(
                    "too many aliases",
                    limits.MAX_ALIASES,
                    "alias references",
                    file=file,
                    line=event.start_mark.line + 1,
                )
        else:  # the start of a map or list
            expanded += 1
            holds_steps = (
                parent is not None
                and len(open_) == 1
                and parent.is_map
                and not is_key
                and parent.key in _STEP_KEYS
            )
            open_.append(_Open(event.anchor, expanded, kind is _START_MAPPING, holds_steps))
            if len(open_) > limits.MAX_NESTING:
                raise limits.over_budget(
                    "the YAML is nested too deeply",
                    limits.MAX_NESTING,
                    "levels of nested maps and lists",
                    file=file,
                    line=event.start_mark.line + 1,
                )
        if expanded > limits.MAX_YAML_VALUES:
            raise _too_many_values(file, event.start_mark.line + 1)


def _alias_size(event: Any, open_: list[_Open], sizes: dict[str, int], file: str) -> int:
    """What expanding the alias ``event`` would add; refuses a recursive alias."""
    if any(o.anchor == event.anchor for o in open_):
        raise limits.over_budget(
            f"the alias *{event.anchor} is inside the map or list it refers to (a recursive alias)",
            0,
            "recursive aliases",
            file=file,
            line=event.start_mark.line + 1,
            fix="refer to a complete anchor instead",
        )
    return sizes.get(event.anchor, 1)


def load_documents(text: str, file: str, issues: IssueList) -> list[tuple[Any, int]]:
    """Parse every YAML document of ``text``; return ``(value, first line)`` pairs.

    Empty documents are dropped. Raises ``PipelineError`` with the line for malformed YAML,
    ``BudgetExceeded`` for a file over a budget (``check_budget``); duplicate keys are appended
    to ``issues`` as warnings.
    """
    loader = _Loader(text)
    docs: list[tuple[Any, int]] = []
    try:
        check_budget(text, file)
        converter = _Converter(loader, issues)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            value = converter.convert(node, f"[{len(docs)}]" if docs else "")
            if value is not None:
                docs.append((value, node.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or "malformed YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise PipelineError(
            f"invalid YAML: {problem}{context}; check the indentation and quoting near this line",
            file=file,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return docs
