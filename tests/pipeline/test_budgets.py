"""Each budget of runner.pipeline.limits at the level of the pure functions: a file over it is
refused with a BudgetExceeded naming the file, the line and the limit, before the work it
bounds is done; a file within it reads as before."""

import threading
import tracemalloc

import pytest

from runner.errors import BudgetExceeded, PipelineError
from runner.pipeline import limits
from runner.pipeline.conditions import parse_when
from runner.pipeline.config import check_files, load_pipeline
from runner.pipeline.evaluate import (
    ExpressionError,
    ExpressionTooComplex,
    evaluate,
    parse_expression,
)
from runner.pipeline.issues import IssueList
from runner.pipeline.matrix import expand_matrix
from runner.pipeline.parser import parse_file
from runner.pipeline.spec import BuildContext
from runner.pipeline.substitute import substitute
from runner.pipeline.yamlload import check_budget, load_documents

CTX = BuildContext(repo="a/b", event="push", branch="main", commit="0" * 40)
STEP = "- name: s{i}\n  image: alpine\n  commands: [echo {i}]\n"


def drone(steps: int = 1, extra: str = "") -> str:
    return (
        "kind: pipeline\nname: p\n"
        + extra
        + "steps:\n"
        + "".join(STEP.format(i=i) for i in range(steps))
    )


def refused(call, *args, **kwargs) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as info:
        call(*args, **kwargs)
    assert "over the limit of" in str(info.value)
    return info.value


# YAML ----------------------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed():
    text = drone() + "# " + "x" * limits.MAX_FILE_BYTES + "\n"
    err = refused(check_budget, text, ".drone.yml")
    assert (
        err.file == ".drone.yml" and err.limit == f"{limits.MAX_FILE_BYTES} bytes per pipeline file"
    )


def test_too_many_documents_are_refused_at_the_first_one_over():
    text = "---\n".join(drone() for _ in range(limits.MAX_DOCUMENTS + 1))
    err = refused(load_documents, text, "f.yml", IssueList("f.yml"))
    assert "documents" in err.limit and err.line > 1


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 500 + "]" * 500,
        "x:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(500)) + " " * 501 + "v\n",
        # deep enough that composing it would exhaust the C stack (a crash, not an error)
        "x: " + "[" * 200_000 + "]" * 200_000,
    ],
    ids=["flow-500", "block-500", "flow-200000"],
)
def test_deep_nesting_is_refused_with_its_line(text):
    err = refused(load_documents, text, "f.yml", IssueList("f.yml"))
    assert err.limit == f"{limits.MAX_NESTING} levels of nested maps and lists"
    assert err.line >= 1


def test_nesting_within_the_limit_reads():
    text = "x: " + "[" * (limits.MAX_NESTING - 1) + "1" + "]" * (limits.MAX_NESTING - 1)
    assert load_documents(text, "f.yml", IssueList("f.yml"))


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a\n  b:\n    - c: *a\n"],
)
def test_a_recursive_alias_is_refused(text):
    err = refused(load_documents, text, "f.yml", IssueList("f.yml"))
    assert "recursive alias" in str(err) and err.line == text.count("\n", 0, text.index("*a")) + 1


def test_alias_expansion_is_counted_before_anything_is_expanded():
    # 10**30 values once expanded: only counting can refuse it
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 31):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    err = refused(load_documents, "\n".join(lines), "f.yml", IssueList("f.yml"))
    assert err.limit == f"{limits.MAX_YAML_VALUES} YAML values after alias expansion"


def test_too_many_alias_references_are_refused():
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (limits.MAX_ALIASES + 1)) + "]\n"
    err = refused(check_budget, text, "f.yml")
    assert err.limit == f"{limits.MAX_ALIASES} alias references"


def test_ordinary_anchors_and_merges_still_read():
    text = (
        "base: &base {image: alpine, pull: always}\n"
        "steps:\n- <<: *base\n  name: a\n- <<: *base\n  name: b\n"
    )
    [(doc, _line)] = load_documents(text, "f.yml", IssueList("f.yml"))
    assert [s["image"] for s in doc["steps"]] == ["alpine", "alpine"]


def test_malformed_yaml_is_left_to_the_reader_which_names_its_line():
    check_budget("a: 1\nsteps: [echo\n", "f.yml")
    with pytest.raises(PipelineError, match="invalid YAML") as info:
        load_documents("a: 1\nsteps: [echo\n", "f.yml", IssueList("f.yml"))
    assert info.value.line == 3


# Substitution --------------------------------------------------------------------------------


def test_nested_substitution_is_refused_past_its_depth_with_the_line():
    text = "a: 1\nb: " + "${A:-" * 330 + "x" + "}" * 330 + "\n"
    err = refused(substitute, text, {}, file=".drone.yml")
    assert err.limit == f"{limits.MAX_SUBSTITUTION_DEPTH} levels of nested ${{...}}"
    assert (err.file, err.line) == (".drone.yml", 2)


def test_nested_substitution_within_the_depth_works():
    depth = limits.MAX_SUBSTITUTION_DEPTH - 1
    text = "${A:-" * depth + "x" + "}" * depth
    assert substitute(text, {}) == "x"


def test_substitution_that_grows_the_file_past_the_limit_is_refused():
    text = "x: ${BIG}\n" * 200
    err = refused(substitute, text, {"BIG": "y" * 10_000})
    assert err.limit == f"{limits.MAX_SUBSTITUTED_BYTES} bytes after substitution"


@pytest.mark.parametrize("expression", ["${#M}", "${M:0:1}"])
def test_substitution_that_reads_a_long_value_again_and_again_is_refused(expression):
    # Each one writes a few bytes but reads all of M (64 KiB, a commit message's size):
    # 100,000 of them would read 6 GB, whatever the output.
    text = f"x: {expression}\n" * 100_000
    err = refused(substitute, text, {"M": "line\n" * 13_000})
    assert (
        err.limit == f"{limits.MAX_SUBSTITUTION_READ_BYTES} bytes of variables read by substitution"
    )
    assert err.line > 1


@pytest.mark.parametrize(
    "expression",
    ["${X//a/${X}}", "${X//aa/${X}}", "${X//a*/${X}}${X//a/${X}}"],
    ids=["one-character", "longer-text", "after-a-long-value"],
)
def test_a_replacement_that_would_grow_past_the_limit_is_refused_before_it_is_built(expression):
    # 20 KB of commit message replacing each of its characters by itself: 400 MB if built.
    variables = {"X": "a" * 20_000}
    tracemalloc.start()
    try:
        err = refused(substitute, f"a: 1\nb: {expression}\n", variables, file=".drone.yml")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.limit == f"{limits.MAX_SUBSTITUTED_BYTES} bytes after substitution"
    assert (err.file, err.line) == (".drone.yml", 2)
    assert peak < 8 * 1024 * 1024, f"{peak} bytes allocated before the refusal"


def test_replacements_count_against_what_the_file_may_still_grow_by():
    # Each of the two is under the limit; together they are over it.
    half = "a" * (limits.MAX_SUBSTITUTED_BYTES // 2 + 1)
    assert len(substitute("${X//a/a}", {"X": half})) == len(half)
    refused(substitute, "${X//a/a} ${X//[a]/a}", {"X": half})


def test_replacements_within_the_limit_replace_text_as_envsubst_does():
    # drone/envsubst funcs.go replaceFirst/replaceAll: the text, never a pattern.
    value = "ab-ab-ab"
    assert substitute("${X/a/yz}|${X//a/yz}|${X//[ab]/.}|${X/-*/}|${X//?/}", {"X": value}) == (
        "yzb-ab-ab|yzb-yzb-yzb|ab-ab-ab|ab-ab-ab|ab-ab-ab"
    )


def test_shell_patterns_on_a_long_value_finish_within_a_deadline():
    # Trying every prefix length with a regular expression took 3.5 s for one
    # ${M#*y} on a 64 KB commit message; on RE2 it is linear in the value.
    value = "x" * 200_000
    text = "a: ${M#*y}\nb: ${M%y*}\nc: ${M/*y/z}\nd: ${M##*x}|${M%%x*}|${M#x}\n"
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(substitute(text, {"M": value})))
    worker.start()
    worker.join(60)
    assert out, "substitution did not finish within 60 s"
    assert out[0] == f"a: {value}\nb: {value}\nc: {value}\nd: ||{value[1:]}\n"


# Matrix --------------------------------------------------------------------------------------


def test_matrix_combinations_are_counted_from_the_axes_before_any_is_built():
    # 10**20 combinations could never be built; only counting them can answer
    value = {f"AXIS{i}": [str(v) for v in range(10)] for i in range(20)}
    err = refused(expand_matrix, value, 3, IssueList(".drone.yml"))
    assert "1" + "0" * 20 + " combinations" in str(err)  # the count, as multiplied
    assert err.limit == f"{limits.MAX_MATRIX_COMBINATIONS} matrix combinations"
    assert (err.file, err.line) == (".drone.yml", 3)


def test_a_seven_axis_matrix_through_the_whole_chain_is_an_error_naming_the_limit():
    axes = "".join(f"  A{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for i in range(7))
    woodpecker = "matrix:\n" + axes + "steps:\n  a:\n    image: alpine\n    commands: [echo]\n"
    with pytest.raises(PipelineError) as info:
        load_pipeline({".woodpecker.yml": woodpecker}, CTX)
    assert "10000000 combinations" in str(info.value)
    assert f"limit of {limits.MAX_MATRIX_COMBINATIONS} matrix combinations" in str(info.value)
    assert str(info.value).startswith(".woodpecker.yml:1:")


def test_a_matrix_within_the_limit_expands_in_file_order():
    combos = expand_matrix({"GO": ["1.21", "1.22"], "DB": ["pg", "mysql"]}, 1, IssueList("f"))
    assert combos[0] == {"GO": "1.21", "DB": "pg"} and len(combos) == 4


def test_include_entries_are_not_capped_as_axis_combinations_are():
    # Drone and Woodpecker cap only axis products; an include list is bounded by the file's
    # own budgets (see tests/pipeline/test_fidelity_woodpecker.py).
    include = [{"A": str(i)} for i in range(limits.MAX_MATRIX_COMBINATIONS + 1)]
    assert len(expand_matrix({"include": include}, 1, IssueList("f"))) == len(include)


def test_text_read_over_all_combinations_is_bounded():
    # each of 64 combinations substitutes and reads the whole file again
    padding = "# " + "p" * 100 + "\n"
    body = "steps:\n  a:\n    image: alpine\n    commands: [echo]\n"
    text = "matrix:\n  A: [" + ", ".join(str(i) for i in range(64)) + "]\n" + body
    text += padding * ((limits.MAX_TEXT_BYTES // 64) // len(padding) + 1)
    err = refused(parse_file, ".woodpecker.yml", text, lambda m: dict(m))
    assert (
        err.limit == f"{limits.MAX_TEXT_BYTES} bytes of pipeline text over all matrix combinations"
    )


# Steps and files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        drone(limits.MAX_STEPS + 1),
        "pipeline:\n" + "".join(f"  s{i}:\n    image: a\n" for i in range(limits.MAX_STEPS + 1)),
        "steps:\n" + "".join(f"  s{i}: {{image: a}}\n" for i in range(limits.MAX_STEPS + 1)),
    ],
    ids=["drone-list", "drone08-map", "woodpecker-map"],
)
def test_too_many_steps_in_one_file_are_refused_before_they_are_composed(text):
    err = refused(check_budget, text, ".drone.yml")
    assert err.limit == f"{limits.MAX_STEPS} steps per build" and err.file == ".drone.yml"
    first_over = [i for i, line in enumerate(text.splitlines(), 1) if "1000" in line][0]
    assert err.line == first_over


def test_steps_over_documents_and_matrix_combinations_are_counted_when_read():
    body = "steps:\n" + "".join(f"  s{i}: {{image: a}}\n" for i in range(limits.MAX_STEPS // 2))
    text = "matrix:\n  A: [1, 2, 3]\n" + body
    err = refused(parse_file, ".woodpecker.yml", text, lambda m: dict(m))
    assert err.limit == f"{limits.MAX_STEPS} steps per build"


def test_steps_are_counted_over_every_file_of_the_build():
    half = limits.MAX_STEPS // 2 + 1
    files = {
        ".woodpecker/a.yml": drone(half).replace("kind: pipeline\nname: p\n", ""),
        ".woodpecker/b.yml": drone(half).replace("kind: pipeline\nname: p\n", ""),
    }
    with pytest.raises(PipelineError) as info:
        load_pipeline(files, CTX)
    assert f"limit of {limits.MAX_STEPS} steps per build" in str(info.value)
    assert ".woodpecker/b.yml" in str(info.value)


def test_too_many_files_are_refused():
    files = {f".woodpecker/{i}.yml": "steps: {}\n" for i in range(limits.MAX_FILES + 1)}
    err = refused(check_files, files)
    assert err.limit == f"{limits.MAX_FILES} pipeline files per build"


# evaluate ------------------------------------------------------------------------------------


def test_a_catastrophic_regex_is_answered_in_linear_time():
    # Python's re takes about 2**n steps here (57 s at n=29); RE2 answers at once. Woodpecker's
    # evaluate is expr-lang, whose `matches` is Go's regexp.MatchString: RE2 semantics too.
    text = '"' + "a" * 3000 + '!" matches "^(a+)+$"'
    assert evaluate(text, {}) is False
    assert evaluate('X matches "^(a+)+$"', {"X": "a" * 100_000}) is True


def test_regex_syntax_is_re2_as_in_go():
    with pytest.raises(ExpressionError, match="invalid regular expression"):
        parse_expression('CI_COMMIT_BRANCH matches "^(?!main)"')  # no lookahead in Go
    assert evaluate('B matches "^release/\\\\d+"', {"B": "release/12"})


def test_a_regex_over_the_memory_limit_is_refused_naming_it():
    with pytest.raises(ExpressionTooComplex) as info:
        parse_expression('X matches "\\\\pL{1000}"')
    assert info.value.limit == f"{limits.MAX_REGEX_MEMORY} bytes of regular expression memory"


def test_expression_length_and_nesting_are_bounded():
    with pytest.raises(ExpressionTooComplex):
        parse_expression("a == " + '"' + "x" * limits.MAX_EXPRESSION_BYTES + '"')
    for deep in ("(" * 1000 + "a" + ")" * 1000, "!" * 1000 + "a", "[" * 1000 + "]" * 1000):
        with pytest.raises(ExpressionTooComplex):
            parse_expression(deep)


def test_long_chains_of_and_or_evaluate_without_deep_recursion():
    # `|| B` with B a string variable is a type error in expr-lang: each operand is a bool.
    chain = " && ".join(["A == 'x'"] * 200) + " || " + " || ".join(["B == 'y'"] * 120)
    assert evaluate(chain, {"A": "x"}) is True
    assert evaluate(chain, {"A": "y"}) is False


def test_an_over_budget_expression_is_a_blocking_issue_not_a_silent_true():
    issues = IssueList(".woodpecker.yml")
    parse_when({"evaluate": "!" * 100 + "a"}, "when", 7, issues, "woodpecker")
    [issue] = issues
    assert issue.blocking and issue.line == 7 and "over the limit of" in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "- " * (limits.MAX_NESTING + 1) + "x\n",  # block lists nested on one line
        "a: &x [1]\nb: [*x, *x]\n" + "c: 1\n" * 3,  # an anchor, however small the file
        "steps:\n" + "  - {image: a}\n" * (limits.MAX_STEPS + 1),
    ],
    ids=["dash-chain", "anchor", "many-lines"],
)
def test_only_files_plainly_within_every_budget_skip_the_event_scan(text, monkeypatch):
    from runner.pipeline import yamlload

    scanned = []
    real = yamlload._scan_events
    monkeypatch.setattr(yamlload, "_scan_events", lambda *a: scanned.append(1) or real(*a))
    try:
        check_budget(text, ".drone.yml")
    except BudgetExceeded:
        pass
    assert scanned, "a file that could be over a budget must be scanned"
    scanned.clear()
    check_budget("kind: pipeline\nsteps:\n  - name: a\n    commands: [a && b]\n", ".drone.yml")
    assert not scanned
