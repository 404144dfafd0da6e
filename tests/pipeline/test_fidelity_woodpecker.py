"""Woodpecker fidelity: what Woodpecker 3.x compiles for ``when.evaluate`` (expr-lang), a
``clone:`` step of the user's own, keys 3.x removed, ``matrix: include:`` and duplicate names.

Each test names its source in the original (repository, file, function). The small files are
in ``tests/pipeline/fidelity/woodpecker/``; the plan is what ``load_pipeline`` compiles.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.config import load_pipeline
from runner.pipeline.environ import build_environment
from runner.pipeline.evaluate import ExpressionError, ExpressionTooComplex, evaluate
from runner.pipeline.lint import lint_files
from runner.pipeline.spec import BuildContext

FILES = Path(__file__).parent / "fidelity" / "woodpecker"
PUSH = BuildContext(
    repo="acme/app",
    event="push",
    branch="main",
    ref="refs/heads/main",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    message='docs: fix [deploy] {"targets": ["eu", "us"]}',
    author="octocat",
    remote_url="https://git.example.com/acme/app.git",
    link="https://git.example.com/acme/app",
    build_number=7,
)
TAG = dataclasses.replace(PUSH, event="tag", tag="v2.3.1", ref="refs/tags/v2.3.1", message="x")


def read(name: str) -> str:
    return (FILES / name).read_text(encoding="utf-8")


def step_names(files: dict[str, str], ctx: BuildContext) -> list[str]:
    build = load_pipeline(files, ctx)
    return [s.name for stage in build.stages for s in stage.steps]


# 1. when.evaluate is expr-lang ---------------------------------------------------------------

# Expected values from expr-lang/expr docs/language-definition.md (the examples of each
# operator and builtin) and its tests (expr_test.go, builtin/builtin_test.go).
EXPR_LANG_TABLE: list[tuple[str, Any]] = [
    # literals
    ("42", 42),
    ("0x2A", 42),
    ("0o52", 42),
    ("0b101010", 42),
    ("1_000_000", 1000000),
    (".5", 0.5),
    ("1e3", 1000.0),
    ('"foo"', "foo"),
    ("'bar'", "bar"),
    (r'"Hello\nWorld"', "Hello\nWorld"),
    (r'"\u00e9"', "é"),
    ("`raw\\n`", "raw\\n"),
    ("[1, 2, 3]", [1, 2, 3]),
    ("{a: 1, b: 2, c: 3}", {"a": 1, "b": 2, "c": 3}),
    ("nil", None),
    ("true", True),
    # arithmetic: `/` always divides as floats, `**` and `^` are math.Pow
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("4 / 2", 2.0),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("2 ** 10", 1024.0),
    ("2 ^ 3 ^ 2", 512.0),
    ("-2 ** 2", -4.0),
    ('"foo" + "bar"', "foobar"),
    # comparison and logic
    ("1 == 1.0", True),
    ('1 == "1"', False),
    ("nil == nil", True),
    ('"b" > "a"', True),
    ("2 >= 2 && 1 < 2", True),
    ("true and false or true", True),
    ("not true", False),
    ("!false", True),
    ("not false == true", True),  # `not` binds tighter than `==` in expr-lang
    # conditional and nil coalescing
    ("1 > 2 ? 'yes' : 'no'", "no"),
    ("nil ?? 'default'", "default"),
    ("'set' ?? 'default'", "set"),
    # membership, strings, regex
    ('"John" in ["John", "Jane"]', True),
    ('"name" in {"name": "John", "age": 30}', True),
    ('"x" not in ["a"]', True),
    ('"Hello World" contains "World"', True),
    ('"Hello" startsWith "He"', True),
    ('"Hello" endsWith "lo"', True),
    ('"Hello" not endsWith "x"', True),
    ('"release/12" matches "^release/\\\\d+$"', True),
    ('"main" matches "ai"', True),  # Go's MatchString finds a match anywhere
    # member access, index, slice, range
    ('{user: {Name: "Ann"}}.user.Name', "Ann"),
    ('{user: {Name: "Ann"}}["user"]["Name"]', "Ann"),
    ("{a: nil}.a?.b", None),
    ("{a: 1}.missing", None),
    ("[1, 2, 3][0]", 1),
    ("[1, 2, 3][-1]", 3),
    ("[1, 2, 3, 4, 5][1:4]", [2, 3, 4]),
    ("[1, 2, 3, 4, 5][1:-1]", [2, 3, 4]),
    ("[1, 2, 3, 4, 5][:3]", [1, 2, 3]),
    ("[1, 2, 3, 4, 5][3:]", [4, 5]),
    ("1..3", [1, 2, 3]),
    ("3..1", []),
    # let and pipes
    ("let x = 42; x * 2", 84),
    ("let x = 42; let y = 2; x * y", 84),
    ('"Hello World" | lower() | split(" ")', ["hello", "world"]),
    # string functions
    ('trim("  Hello  ")', "Hello"),
    ('trim("__Hello__", "_")', "Hello"),
    ('trimPrefix("HelloWorld", "Hello")', "World"),
    ('trimSuffix("HelloWorld", "World")', "Hello"),
    ('upper("hello")', "HELLO"),
    ('lower("HELLO")', "hello"),
    ('split("apple,orange,grape", ",")', ["apple", "orange", "grape"]),
    ('split("apple,orange,grape", ",", 2)', ["apple", "orange,grape"]),
    ('replace("Hello World", "World", "Universe")', "Hello Universe"),
    ('repeat("Hi", 3)', "HiHiHi"),
    ('toBase64("Hi")', "SGk="),
    # a lone surrogate from JSON is encoded as Go encodes the bytes it keeps, not a crash
    ('toBase64(fromJSON("\\"\\\\ud800\\"")) != ""', True),
    ('indexOf("apple pie", "pie")', 6),
    ('hasPrefix("HelloWorld", "Hello")', True),
    ('hasSuffix("HelloWorld", "World")', True),
    ('join(["apple", "orange", "grape"], ",")', "apple,orange,grape"),
    ('join(["apple", "orange", "grape"])', "appleorangegrape"),
    # numbers, conversions, JSON
    ("max(5, 7)", 7),
    ("min(5, 7)", 5),
    ("abs(-5)", 5),
    ('int("123")', 123),
    ('float("123.45")', 123.45),
    ("string(123)", "123"),
    ('fromJSON("{\\"name\\": \\"John\\", \\"age\\": 30}").age', 30.0),
    ('toJSON({"name": "John", "age": 30})', '{\n  "age": 30,\n  "name": "John"\n}'),
    ('toJSON("<b>")', '"\\u003cb\\u003e"'),  # Go's encoding/json escapes HTML
    # arrays, maps and predicates over `#`
    ('len([1, 2, 3]) + len({"name": "John", "age": 30}) + len("Hello")', 10),
    ('len("é")', 1),  # runes since expr-lang 1.17 (Woodpecker's go.mod: v1.17.8)
    ('indexOf("é-x", "x")', 3),  # Go's strings.Index: a byte offset
    ('keys({"name": "John"})', ["name"]),
    ('values({"name": "John"})', ["John"]),
    ("first([1, 2, 3])", 1),
    ("last([1, 2, 3])", 3),
    ("first([])", None),
    ("filter(0..9, {# % 2 == 0})", [0, 2, 4, 6, 8]),
    ("map([1, 2], # * 10)", [10, 20]),
    ("all([1, 2], # > 0)", True),
    ("all([], # > 0)", True),
    ("any([], # > 0)", False),
    ("none([1, 2], # > 5)", True),
    ("one([1, 2, 3], # == 2)", True),
    ("count([1, 2, 3], # > 1)", 2),
    ("filter([{Size: 300}, {Size: 10}], .Size > 280)", [{"Size": 300}]),
    ("map([{n: 1}, {n: 2}], #.n)", [1, 2]),
    ("any([[1], [2, 3]], {any(#, # == 3)})", True),  # `#` is the innermost element
]


@pytest.mark.parametrize("text, expected", EXPR_LANG_TABLE, ids=[t for t, _ in EXPR_LANG_TABLE])
def test_expr_lang_operators_and_builtins_give_expr_langs_results(text, expected):
    """expr-lang/expr docs/language-definition.md: each operator, literal and builtin."""
    from runner.pipeline.expr.interpreter import Interpreter
    from runner.pipeline.expr.parser import parse

    result = Interpreter({}).run(parse(text))
    assert result == expected and type(result) is type(expected)


def test_evaluate_sees_the_ci_variables_as_strings_and_undefined_ones_as_empty():
    """woodpecker-ci/woodpecker pipeline/frontend/yaml/constraint/constraint.go,
    ``Constraint.Match``: ``expr.Env(env)`` with env a ``map[string]string`` of
    ``metadata.Environ()`` and ``expr.AllowUndefinedVariables()``; expr-lang's
    ``runtime.Fetch`` gives a missing key the zero value of the map's element type ("")."""
    env = build_environment(PUSH)
    assert evaluate('CI_PIPELINE_NUMBER == "7" && CI_COMMIT_BRANCH == "main"', env)
    assert evaluate('NOT_SET == "" && $env.CI_REPO == "acme/app"', env)
    assert evaluate('"CI_REPO" in $env && !("NOT_SET" in $env)', env)


@pytest.mark.parametrize(
    "text",
    [
        "CI_PIPELINE_NUMBER > 5",  # a string compared with an int
        "CI_COMMIT_BRANCH && true",  # a string where a bool is needed
        "len(42)",
        "CI_COMMIT_BRANCH + 1",
        "CI_COMMIT_BRANCH",  # not a boolean (expr.AsBool)
        "[1][5] == 1",  # index out of range
        "false && CI_PIPELINE_NUMBER > 5",  # expr.Compile type-checks branches never run
        "true || !CI_COMMIT_BRANCH",
    ],
)
def test_a_type_error_is_an_error_not_true_or_false(text):
    """constraint.go ``Constraint.Match`` returns expr's compile or run error, and
    ``expr.AsBool()`` refuses a result that is not a bool: Woodpecker fails the pipeline."""
    with pytest.raises(ExpressionError):
        evaluate(text, build_environment(PUSH))


def test_the_golden_file_runs_the_steps_expr_lang_selects():
    """constraint.go ``Constraint.Match``: the workflow ``when`` and each step's ``when`` are
    evaluated against the pipeline's environment; false leaves them out of the plan."""
    files = {".woodpecker/evaluate.yaml": read("evaluate.yaml")}
    assert step_names(files, PUSH) == [
        "clone",
        "deploy-message",
        "any-word",
        "json-config",
        "undefined-is-empty",
    ]
    skip = dataclasses.replace(PUSH, message='fix [deploy] [SKIP DEPLOY] {"targets": []}')
    assert "deploy-message" not in step_names(files, skip)
    other = dataclasses.replace(PUSH, branch="feature/x", ref="refs/heads/feature/x")
    assert load_pipeline(files, other).stages == []  # the workflow's own evaluate is false


STEP_WITH_EVALUATE = "steps:\n  - name: a\n    image: alpine\n    when:\n      evaluate: '{}'\n"


def test_a_runtime_type_error_fails_the_build_with_file_and_line():
    """constraint.go ``Constraint.Match`` returns the error; the step builder gives up on the
    pipeline (it errors), so the build ends in error instead of running or skipping."""
    text = STEP_WITH_EVALUATE.format("CI_PIPELINE_NUMBER > 5")
    with pytest.raises(PipelineError) as info:
        load_pipeline({".woodpecker.yml": text}, PUSH)
    assert (info.value.file, info.value.line) == (".woodpecker.yml", 5)
    assert "mismatched types string and int" in str(info.value)


def test_an_empty_evaluate_is_no_condition():
    """constraint.go ``Constraint.Match`` evaluates only ``if c.Evaluate != ""``."""
    text = STEP_WITH_EVALUATE.format("")
    assert [i for i in lint_files({".woodpecker.yml": text}) if i.blocking] == []
    assert step_names({".woodpecker.yml": text}, PUSH) == ["clone", "a"]


def test_a_syntax_error_is_a_lint_error_with_file_and_line():
    """expr.Compile fails for a syntax error: Woodpecker cannot compile the pipeline."""
    for expression in ('CI_REPO ==== "x"', "lenn(CI_REPO) > 0", "[1, 2"):
        text = STEP_WITH_EVALUATE.format(expression)
        [issue] = [i for i in lint_files({".woodpecker.yml": text}) if i.blocking]
        assert (issue.file, issue.line) == (".woodpecker.yml", 5)
        assert issue.path == "steps[0].when.evaluate"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("int(1e999) == -9223372036854775808", True),  # Go's float-to-int on amd64
        ("9223372036854775807 + 1 == -9223372036854775808", True),  # int64 wraps
        ("9223372036854775807 % 2", 1),
        ("-7 % 3", -1),
        ("1 / 0 > 1e308", True),
        ("[1, 2, 3][0:1e999]", []),  # +Inf converts to MinInt64: an empty slice, as in Go
        ("get([1], 1e999)", None),
        ("string(sum([1e999, -1e999]))", "NaN"),
        ("string(ceil(-1e999))", "-Inf"),
    ],
)
def test_numbers_at_the_edges_behave_as_go_computes_them(text, expected):
    """expr-lang/expr vm/runtime/runtime.go (``ToInt``, ``Slice``) and builtin/lib.go on Go's
    int64 and float64: no value makes the evaluator fail other than with an expression
    error."""
    from runner.pipeline.expr.interpreter import Interpreter
    from runner.pipeline.expr.parser import parse

    assert Interpreter({}).run(parse(text)) == expected


@pytest.mark.parametrize(
    "text, limit",
    [
        ("1 + " * 2000 + "1", f"{limits.MAX_EXPRESSION_BYTES} characters"),
        ("(" * 200 + "1" + ")" * 200, f"{limits.MAX_EXPRESSION_DEPTH} levels"),
        ("-" * 200 + "1", f"{limits.MAX_EXPRESSION_DEPTH} levels"),
        ("2 ** " * 100 + "2", f"{limits.MAX_EXPRESSION_DEPTH} levels"),
        ("[" * 100 + "]" * 100, f"{limits.MAX_EXPRESSION_DEPTH} levels"),
        ("len(0..1000000000) > 0", f"{limits.MAX_EXPRESSION_ITEMS} items"),
        ('len(repeat("x", 1000000000)) > 0', f"{limits.MAX_EXPRESSION_STRING} characters"),
        ("all(0..99999, {all(0..99999, # >= 0)})", f"{limits.MAX_EXPRESSION_STEPS} steps"),
        ('"a" matches "(a)\\\\1"', ""),  # a backreference: RE2 has none, as Go's regexp
        ("fromJSON(repeat('[', 900) + repeat(']', 900)) == nil", f"{limits.MAX_NESTING} levels"),
        # Operations that read big values in a loop: each pays for what it reads.
        ("let a = 1..100000; any(1..200, 0 in a)", f"{limits.MAX_EXPRESSION_STEPS} steps"),
        ("let a = 1..100000; any(1..30000, len(reverse(a)) == 0)", "steps"),
        ('let s = repeat("x", 1000000); any(1..30000, s[1:] == "")', "steps"),
    ],
    ids=[
        "long",
        "parens",
        "unary",
        "power",
        "lists",
        "range",
        "repeat",
        "steps",
        "backref",
        "json",
        "search",
        "copy",
        "slice",
    ],
)
def test_huge_deep_or_costly_expressions_are_refused_fast(text, limit):
    """Untrusted input: the length, nesting, steps and value sizes are bounded; Woodpecker
    relies on Go's regexp (RE2) for ``matches``, which refuses backreferences."""
    started = time.monotonic()
    with pytest.raises(ExpressionError) as info:
        evaluate(text, {})
    assert time.monotonic() - started < 30  # a guard against a hang, not a timing claim
    if limit:
        assert isinstance(info.value, ExpressionTooComplex) and limit in info.value.limit


# 4. matrix: include: has no combination limit ------------------------------------------------


def test_an_include_list_longer_than_the_axis_cap_makes_one_workflow_per_entry():
    """woodpecker-ci/woodpecker pipeline/frontend/yaml/matrix/matrix.go: ``Parse`` returns the
    ``include`` list as written (``parseList``); only ``calc`` of axes stops at ``limitAxis``.
    drone/drone (harness/harness) yaml/matrix/matrix.go ``Calc`` caps axis products alike."""
    build = load_pipeline({".woodpecker/test.yaml": read("matrix-include.yaml")}, PUSH)
    assert len(build.stages) == 70 > limits.MAX_MATRIX_COMBINATIONS
    images = [stage.steps[-1].image for stage in build.stages]
    assert images[0] == "golang:1.0" and images[-1] == "golang:1.69"
    assert build.stages[69].matrix == {"GO": "1.69", "OS": "linux"}


def test_a_huge_include_list_is_bounded_by_the_files_own_budgets():
    """The work is still bounded for untrusted input: each entry is a copy of the file to
    substitute and read, so ``MAX_TEXT_BYTES`` over all copies refuses a huge list."""
    entries = "".join(f"    - {{N: '{i}'}}\n" for i in range(5000))
    text = "matrix:\n  include:\n" + entries + "steps:\n  - name: a\n    image: alpine\n"
    with pytest.raises(PipelineError) as info:
        load_pipeline({".woodpecker.yml": text}, PUSH)
    assert f"{limits.MAX_TEXT_BYTES} bytes of pipeline text" in str(info.value)


# 2. a clone step with commands replaces the built-in clone ---------------------------------


def test_a_clone_step_with_commands_runs_instead_of_the_built_in_clone():
    """woodpecker-ci/woodpecker pipeline/frontend/yaml/compiler/compiler.go, ``Compile``: the
    default clone step is added only when ``clone:`` is empty; otherwise each ``clone:``
    container is compiled (``createProcess`` with ``StepTypeClone``) and runs first, in order.
    Its linter (linter.go, ``lintCloneSteps``) warns that a clone image off the allow list
    gets no netrc."""
    text = read("clone-commands.yaml")
    [stage] = load_pipeline({".woodpecker.yml": text}, PUSH).stages
    assert stage.clone.disable
    assert [(s.name, s.image, s.depends_on) for s in stage.steps] == [
        ("fetch", "runner-test/python", []),
        ("build", "runner-test/busybox", ["fetch"]),  # a DAG root waits for the clone step
        ("test", "runner-test/busybox", ["build"]),
    ]
    assert stage.steps[0].commands[0] == "git init -q"
    [warning] = [i for i in lint_files({".woodpecker.yml": text}) if not i.blocking]
    assert warning.path == "clone[0]" and "replaces the built-in clone" in warning.message


def test_a_clone_section_naming_the_git_plugin_keeps_the_built_in_clone():
    """compiler.go ``Compile`` runs ``clone:`` containers as written; the git plugin's job
    (depth, tags) is what the built-in clone does, so it stays, with the plugin's options."""
    text = (
        "clone:\n  git:\n    image: woodpeckerci/plugin-git:2.6\n    settings: {depth: 5}\n"
        "steps:\n  - name: a\n    image: alpine\n    commands: [ls]\n"
    )
    [stage] = load_pipeline({".woodpecker.yml": text}, PUSH).stages
    assert not stage.clone.disable and stage.clone.depth == 5
    assert [s.name for s in stage.steps] == ["clone", "a"]


# 5. duplicate names ----------------------------------------------------------------------------


def test_a_step_may_share_a_services_name_and_steps_in_sequence_may_share_one():
    """woodpecker-ci/woodpecker pipeline/frontend/yaml/linter/linter.go ``lintServiceNames``
    checks services only; compiler/dag.go ``compileByDependsOn`` refuses a duplicate step name
    only when ``depends_on`` is used (``compileSequence`` runs them one after the other)."""
    text = read("duplicate-names.yaml")
    assert [i for i in lint_files({".woodpecker.yml": text}) if i.blocking] == []
    [stage] = load_pipeline({".woodpecker.yml": text}, PUSH).stages
    assert [s.name for s in stage.services] == ["database"]  # its host name is kept
    steps = stage.steps[1:]
    assert [s.name for s in steps] == ["database-2", "test", "test-2"]
    assert [s.environment["CI_STEP_NAME"] for s in steps] == ["database", "test", "test"]
    assert [s.commands for s in steps][2] == ["echo integration"]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "services:\n  - {name: db, image: postgres}\n  - {name: db, image: mysql}\n"
            "steps:\n  - {name: a, image: alpine}\n",
            "service names must be unique",
        ),
        (
            "steps:\n  - {name: a, image: alpine}\n  - {name: a, image: alpine}\n"
            "  - {name: b, image: alpine, depends_on: [a]}\n",
            "step names must be unique when depends_on is used",
        ),
    ],
    ids=["services", "steps-with-depends-on"],
)
def test_duplicate_service_names_and_duplicate_dag_step_names_are_errors(text, message):
    """linter.go ``lintServiceNames`` (an error, not a warning) and compiler/errors.go
    ``ErrStepDuplicateName`` ("step names must be unique to be referenced by 'depends_on'")."""
    [issue] = [i for i in lint_files({".woodpecker.yml": text}) if i.blocking]
    assert message in issue.message and issue.line in (3, 4)


def test_drone_still_refuses_a_name_shared_by_a_step_and_a_service():
    """drone/drone-yaml linter/linter.go ``checkPipeline``: one name space for steps and
    services in Drone 1.x files (unchanged)."""
    text = (
        "kind: pipeline\nname: p\nservices:\n- {name: db, image: postgres}\n"
        "steps:\n- {name: db, image: alpine}\n"
    )
    assert any("duplicate step name" in i.message for i in lint_files({".drone.yml": text}))


# 3. keys Woodpecker 3.x removed ---------------------------------------------------------------


def test_removed_keys_it_ignores_are_warnings_and_do_nothing():
    """woodpecker-ci/woodpecker docs/src/pages/migrations.md (3.0.0) and the 3.x types:
    ``types.Workflow`` has no ``platform``/``branches``, ``types.Container`` no ``group``,
    ``constraint.Constraint`` no ``environment``, ``target`` or ``branches``; the schema
    (linter/schema/schema.json, ``additionalProperties: false``) reports each as a warning
    ("Additional property … is not allowed") and the workflow runs as if they were not there."""
    text = read("removed-keys.yaml")
    issues = lint_files({".woodpecker.yml": text})
    assert [i for i in issues if i.blocking] == []
    warned = {i.path for i in issues if "is not allowed in Woodpecker 3.x" in i.message}
    assert warned == {
        "platform",
        "branches",
        "steps[0].group",
        "steps[1].group",
        "steps[2].when.environment",
        "steps[3].when[0].branches",
        "steps[3].when[0].target",
    }
    [stage] = load_pipeline({".woodpecker.yml": text}, PUSH).stages  # branch main: runs
    assert stage.platform == "linux/amd64"  # not windows: the key is ignored
    assert [(s.name, s.depends_on) for s in stage.steps] == [
        ("clone", []),
        ("build", []),  # in order, not a parallel group (no depends_on: a plain sequence)
        ("lint", []),
        ("deploy", []),  # no environment filter: it runs on a push
        ("notify", []),  # only event: push is read; branches and target are not 3.x fields
    ]


@pytest.mark.parametrize(
    "text, path, message",
    [
        (
            "pipeline:\n  build:\n    image: alpine\n",
            "pipeline",
            'Woodpecker 3.0 removed the top-level "pipeline:"',
        ),
        (
            "steps:\n  - name: a\n    image: alpine\n    secrets: [token]\n",
            "steps[0].secrets",
            "Usage of `secrets` was removed in Woodpecker 3.0: use `environment` in combination "
            "with `from_secret`",
        ),
        (
            "steps:\n  - name: a\n    image: alpine\n    environment:\n      - A=b\n",
            "steps[0].environment",
            "list syntax for 'environment' was removed in Woodpecker 3.0",
        ),
        (
            "when:\n  event:\n    include: [push]\nsteps:\n  - name: a\n    image: alpine\n",
            "when.event",
            "the include/exclude form of event was removed in Woodpecker 3.0",
        ),
    ],
    ids=["pipeline", "secrets", "environment-list", "event-include"],
)
def test_removed_keys_it_refuses_are_errors(text, path, message):
    """3.x: no ``steps`` is linter.go ``lintFile``'s error "Invalid or missing `steps`
    section"; ``secrets`` is ``lintContainerDeprecations``'s error; a list ``environment``
    fails to parse (types/base/deprecations.go ``EnvironmentMap.UnmarshalYAML``), and so does
    an include/exclude ``event`` (constraint.go: ``Event`` is a ``base.StringOrSlice``)."""
    errors = [i for i in lint_files({".woodpecker.yml": text}) if i.blocking]
    assert any(i.path == path and message in i.message for i in errors), errors
    with pytest.raises(PipelineError):
        load_pipeline({".woodpecker.yml": text}, PUSH)


def test_the_removed_keys_still_mean_what_they_meant_in_drone_08_files():
    """drone/drone 0.8 read top-level ``branches:`` and step ``secrets:`` (unchanged)."""
    text = "branches: [release]\npipeline:\n  a:\n    image: alpine\n    secrets: [token]\n"
    assert load_pipeline({".drone.yml": text}, PUSH).stages == []  # main is not release
