"""Property-based fuzzing of pipeline files through the chain the server runs on a push (budget
check, environment declarations, substitute, parse, lint, matrix, conditions, compile) and
through `runner lint`: thousands of generated files per run, structured files of the three
dialects with hostile values and raw text, raise nothing but the project's own PipelineError,
and each is answered within a deadline. The seed and the example counts are printed."""

from __future__ import annotations

import os
import random

import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from runner.environments import extract_declarations
from runner.errors import PipelineError
from runner.pipeline.conditions import KNOWN_FIELDS
from runner.pipeline.config import check_files, load_pipeline
from runner.pipeline.lint import lint_files
from runner.pipeline.parse_drone import PIPELINE_KEYS
from runner.pipeline.parse_maps import DRONE08_KEYS, WOODPECKER_KEYS
from runner.pipeline.spec import BuildContext
from runner.pipeline.steps import COMMON_KEYS

SEED = int(os.environ.get("RUNNER_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
EXAMPLES = 1000  # per test; both together stay well under a minute on a loaded machine
DEADLINE_MS = 2000  # one file through the whole chain, on a loaded machine
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=DEADLINE_MS,
    database=None,  # every run explores anew from its printed seed
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CTX = BuildContext(
    repo="acme/app",
    event="push",
    branch="main",
    commit="0123456789abcdef0123456789abcdef01234567",
    message="fix: ${DRONE_BRANCH}\n" + "x" * 2000,
    author="dev",
    changed_files=["src/a.py", "docs/b.md"],
)

# Values chosen to hurt: substitution and regex bombs, shell and YAML metacharacters, NUL and
# lone surrogates, huge numbers, paths and names the trust rules care about.
HOSTILE_TEXT = [
    "${A:-" * 40 + "x" + "}" * 40,
    "${DRONE_COMMIT_MESSAGE##*x}",
    "${DRONE_BRANCH/main/${DRONE_TAG}}",
    "${",
    "${}",
    "${A:0:-1}",
    "${#}",
    "$${A}",
    '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" matches "^(a+)+$"',
    'CI_COMMIT_BRANCH matches "\\\\pL{1000}"',
    "(" * 50 + "true" + ")" * 50,
    "!" * 60 + "true",
    "/var/run/docker.sock:/var/run/docker.sock",
    "/:/host",
    "\x00",
    "\ud800",
    "a\nb: c",
    "*a",
    "&a",
    "<<",
    "10" * 40,
    "-1",
    "success",
    "main",
    "v1.*",
    "../..",
]
SCALARS = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
NESTED_KEYS = list(KNOWN_FIELDS) + list(COMMON_KEYS) + ["include", "exclude", "from_secret"]


# Most values are plain, so that files get past substitution and YAML into lint and compile;
# each file then gets one hostile value (or none) somewhere.
PLAIN_SCALARS = st.one_of(
    st.sampled_from([t for t in HOSTILE_TEXT if "${" not in t and t not in ("\x00", "\ud800")]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
)


def values(max_leaves: int = 12, scalars=PLAIN_SCALARS):
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(NESTED_KEYS), inner, max_size=4),
        ),
        max_leaves=max_leaves,
    )


# Strategies are built once: Hypothesis validates each new one, which costs more than a draw.
VALUES = values()
SMALL_VALUES = values(4)
HOSTILE_VALUES = values(4, SCALARS)
STEP = st.dictionaries(st.sampled_from(COMMON_KEYS), values(6), max_size=6).map(
    lambda step: {"image": "alpine", **step}
)
MATRIX = st.one_of(
    st.dictionaries(st.sampled_from(["GO", "DB", "OS", "X"]), st.lists(SCALARS, max_size=9)),
    st.fixed_dictionaries({"include": st.lists(st.dictionaries(st.text(max_size=5), SCALARS))}),
)
ENVIRONMENTS = st.dictionaries(
    st.sampled_from(["production", "test", "../x", ""]),
    st.dictionaries(
        st.sampled_from(["branches", "tags", "labels", "approval", "lock", "events", "x"]),
        SMALL_VALUES,
        max_size=4,
    ),
    max_size=2,
)
NAMED_STEPS = st.lists(STEP.map(lambda s: {"name": "s", **s}), max_size=4)
STEP_MAP = st.dictionaries(st.sampled_from(["build", "test", "x"]), STEP, max_size=3)
DRONE_KEYS = st.lists(st.sampled_from(PIPELINE_KEYS), max_size=5, unique=True)
DRONE08_KEY_LIST = st.lists(st.sampled_from(DRONE08_KEYS), max_size=4, unique=True)
WOODPECKER_KEY_LIST = st.lists(st.sampled_from(WOODPECKER_KEYS), max_size=4, unique=True)


def with_hostile_value(draw, doc: dict, keys) -> dict:
    """``doc`` with one hostile value at one of ``keys`` or in one of its steps, or as is."""
    where = draw(st.sampled_from(["none", "top", "step"]))
    if where == "top":
        doc[draw(st.sampled_from(list(keys)))] = draw(HOSTILE_VALUES)
    elif where == "step":
        steps = doc["steps"] if "steps" in doc else doc["pipeline"]
        items = list(steps.values()) if isinstance(steps, dict) else steps
        items = [item for item in items if isinstance(item, dict)]
        if items:
            draw(st.sampled_from(items))[draw(st.sampled_from(COMMON_KEYS))] = draw(HOSTILE_VALUES)
    return doc


@st.composite
def drone_files(draw):
    doc = {"kind": "pipeline", "name": draw(st.sampled_from(["default", "a", ""]))}
    for key in draw(DRONE_KEYS):
        doc[key] = draw(VALUES)
    doc["steps"] = draw(NAMED_STEPS)
    docs = [with_hostile_value(draw, doc, PIPELINE_KEYS)]
    if draw(st.booleans()):
        docs.insert(0, {"environments": draw(ENVIRONMENTS)})
    return ".drone.yml", docs


@st.composite
def drone08_files(draw):
    doc = {k: draw(VALUES) for k in draw(DRONE08_KEY_LIST)}
    doc["pipeline"] = draw(STEP_MAP)
    if draw(st.booleans()):
        doc["matrix"] = draw(MATRIX)
    return ".drone.yml", [with_hostile_value(draw, doc, DRONE08_KEYS)]


@st.composite
def woodpecker_files(draw):
    doc = {k: draw(VALUES) for k in draw(WOODPECKER_KEY_LIST)}
    doc["steps"] = draw(st.one_of(STEP_MAP, NAMED_STEPS))
    if draw(st.booleans()):
        doc["matrix"] = draw(MATRIX)
    if draw(st.booleans()):
        doc["when"] = {"evaluate": draw(st.sampled_from(HOSTILE_TEXT))}
    name = draw(st.sampled_from([".woodpecker.yml", ".woodpecker/build.yml"]))
    return name, [with_hostile_value(draw, doc, WOODPECKER_KEYS)]


def dump(docs) -> str:
    return yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False)


# Raw text: fragments of YAML and substitution syntax in any order, and any text at all.
FRAGMENTS = [
    "kind: pipeline\n",
    "steps:\n",
    "pipeline:\n",
    "matrix:\n",
    "environments:\n",
    "  ",
    "- ",
    "name: a\n",
    "image: alpine\n",
    "commands: [echo ${A}]\n",
    "when: {evaluate: 'A matches \"(a+)+$\"'}\n",
    "&a ",
    "*a ",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "---\n",
    "${",
    "${A:-",
    "}",
    "\n",
    "'",
    '"',
    "#",
    "|\n",
    "!!binary ",
    "!!python/object:os.system ",
    "? ",
    "%YAML 1.1\n",
    "\t",
    "\x00",
    "\ufeff",
]
RAW = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join),
    st.text(max_size=400),
)


class Counter:
    examples = 0
    refused = 0


def run_chain(files: dict[str, str], counter: type[Counter]) -> None:
    """What the trigger does with the files of a push, then what `runner lint` does."""
    counter.examples += 1
    try:
        check_files(files)
        stripped, _declared = extract_declarations(files)
        load_pipeline(stripped, CTX, trusted=False, privileged_images=("plugins/docker",))
    except PipelineError as exc:
        assert str(exc)
        counter.refused += 1
    for issue in lint_files(files):
        assert issue.level in ("error", "warning") and issue.message


def report(capsys, name: str, counter: type[Counter]) -> None:
    with capsys.disabled():
        print(
            f"\n{name}: seed {SEED} (RUNNER_FUZZ_SEED={SEED} repeats it), "
            f"{counter.examples} files, {counter.refused} refused with PipelineError"
        )


class Structured(Counter):
    pass


class Raw(Counter):
    pass


def test_structured_files_of_three_dialects_raise_only_pipeline_errors(capsys):
    @seed(SEED)
    @FUZZ
    @given(st.one_of(drone_files(), drone08_files(), woodpecker_files()))
    def check(named):
        name, docs = named
        run_chain({name: dump(docs)}, Structured)

    check()
    report(capsys, "structured", Structured)
    assert Structured.examples >= EXAMPLES


def test_raw_text_raises_only_pipeline_errors(capsys):
    @seed(SEED)
    @FUZZ
    @given(RAW, st.sampled_from([".drone.yml", ".woodpecker.yml"]))
    def check(text, name):
        run_chain({name: text}, Raw)

    check()
    report(capsys, "raw", Raw)
    assert Raw.examples >= EXAMPLES
