"""The budgets of the work done for a pipeline file, in one place.

A pipeline file comes from whoever can push a commit or open a pull request, so reading it is
work done for an untrusted party: every reading step below stops at its limit and raises
``BudgetExceeded`` (a ``PipelineError``: the build ends in ``error`` naming the file, the line
where known and the limit hit) instead of using unbounded time, memory or stack.

The limits are far above what real files need (in the corpus of real Drone and Woodpecker
files: 78 KB at most, 32 documents, 7 levels of nesting, 24 aliases, 5,431 values, 295 steps,
12 matrix stages) and far below what would stall a server. docs/pipeline.md ("Limits") lists
them for users.
"""

from __future__ import annotations

from runner.errors import BudgetExceeded

MAX_FILES = 100
"""Pipeline files of one build (Woodpecker reads every ``.woodpecker/*.yml``)."""

MAX_FILE_BYTES = 512 * 1024
"""Size of one pipeline file as committed."""

MAX_SUBSTITUTED_BYTES = 1024 * 1024
"""Size of one file after ``${...}`` substitution (a variable can be long)."""

MAX_SUBSTITUTION_READ_BYTES = 32 * 1024 * 1024
"""Variable text read by one file's substitution, whatever it yields (``${#VAR}`` reads the
whole value to write a few digits): each use of a variable counts its length."""

MAX_TEXT_BYTES = 4 * 1024 * 1024
"""Text read for one file over all its matrix combinations (each is substituted and read)."""

MAX_DOCUMENTS = 100
"""YAML documents (``---``) in one file."""

MAX_NESTING = 64
"""Depth of nested maps and lists in the YAML of one file."""

MAX_YAML_VALUES = 200_000
"""Values of one file after every alias is expanded (counted before any is expanded)."""

MAX_ALIASES = 10_000
"""Alias references (``*name``) in one file."""

MAX_SUBSTITUTION_DEPTH = 16
"""Nesting of ``${...}`` inside the argument of another (``${A:-${B:-x}}`` is 2)."""

MAX_STEPS = 1_000
"""Steps and services of one build, over every file, document and matrix combination."""

MAX_MATRIX_COMBINATIONS = 64
"""Stages the axes of one ``matrix:`` may make, counted before any combination is built
(an ``include:`` list is not capped, as in Drone and Woodpecker: see ``matrix.py``)."""


MAX_EXPRESSION_BYTES = 4096
"""Length of one Woodpecker ``evaluate`` expression."""

MAX_EXPRESSION_DEPTH = 32
"""Nesting in one ``evaluate`` expression: parentheses, unary operands, lists, maps, calls,
member accesses (a chain of ``&&`` or ``+`` does not nest)."""

MAX_EXPRESSION_STEPS = 100_000
"""Steps of one ``evaluate``: nodes evaluated plus items visited by functions and predicates."""

MAX_EXPRESSION_STRING = 1024 * 1024
"""Characters of one string an ``evaluate`` expression makes (``repeat``, ``+``, ``join``...)."""

MAX_EXPRESSION_ITEMS = 100_000
"""Items of one list or map an ``evaluate`` expression makes (``1..n``, ``split``...)."""

MAX_REGEX_MEMORY = 8 * 1024 * 1024
"""Memory RE2 may use to compile one ``matches`` pattern (RE2 runs in linear time)."""

SCRIPT_CPU_SECONDS = 2
"""CPU time the evaluation of one Jsonnet or Starlark file may use (Drone stops a Starlark file
after 50,000 execution steps, a few milliseconds; the interpreters here have no step counter)."""

SCRIPT_WALL_SECONDS = 15.0
"""Time the evaluation of one Jsonnet or Starlark file may take, its process's start included."""

SCRIPT_MEMORY_BYTES = 1024 * 1024 * 1024
"""Address space of the process evaluating one Jsonnet or Starlark file (the Go runtime of the
Starlark interpreter reserves most of it up front)."""


COMPILE_PROCESSES = 2
"""Worker processes the server reads pipeline files in (``runner.server.compile_worker``)."""

COMPILE_CPU_SECONDS = 5
"""CPU time one reading of a build's pipeline files may use in a worker."""

COMPILE_MEMORY_BYTES = 1024 * 1024 * 1024
"""Address space of a worker (the interpreter, libyaml and RE2 included)."""

COMPILE_WALL_SECONDS = 20.0
"""Time the server waits for a worker (CPU time can be scarce on a loaded machine)."""

COMPILE_QUEUE_SECONDS = 60.0
"""Time a reading waits for a free worker before its build ends in ``error``."""


def over_budget(
    what: str, limit: int, unit: str, *, file: str = "", line: int = 0, fix: str = ""
) -> BudgetExceeded:
    """The error for a budget hit: ``<what>: over the limit of <limit> <unit>; <fix>``."""
    fix = fix or "simplify the file or split it"
    return BudgetExceeded(
        f"{what}: over the limit of {limit} {unit}; {fix}",
        file=file,
        line=line,
        limit=f"{limit} {unit}",
    )


def check_file_count(count: int) -> None:
    """Raise ``BudgetExceeded`` when a build has more than ``MAX_FILES`` pipeline files."""
    if count > MAX_FILES:
        raise over_budget(
            f"{count} pipeline files", MAX_FILES, "pipeline files per build", fix="merge some"
        )


def check_file_size(size: int, file: str) -> None:
    """Raise ``BudgetExceeded`` when pipeline file ``file`` has more than ``MAX_FILE_BYTES``."""
    if size > MAX_FILE_BYTES:
        raise over_budget(
            f"the file has {size} bytes",
            MAX_FILE_BYTES,
            "bytes per pipeline file",
            file=file,
            fix="keep large data out of the pipeline file",
        )
