"""Jsonnet and Starlark pipeline files compile as Drone converts them: the inputs, the result,
the budgets and the errors.

What the original does (drone/drone, plugin/converter):
- ``starlark.go``/``jsonnet.go`` ``Convert``: the converter is chosen by the extension of the
  repository's config path (``.jsonnet``; ``.star``, ``.starlark``, ``.script``).
- ``starlark/starlark.go`` ``Parse``: the file's ``main`` is called with one argument; a dict
  result is one YAML document, a list one document per item, anything else is
  ``ErrMainReturn``; ``load`` is ``noLoad`` ("cannot load external scripts"); the run is capped
  (``SetMaxExecutionSteps``) and so is the output size (``ErrMaximumSize``).
- ``starlark/args.go`` ``createArgs``/``fromBuild``/``fromRepo``: ``ctx.build`` (event, branch,
  ref, commit, message, title...) and ``ctx.repo`` (name, namespace, slug, link...) are structs
  read as attributes.
- ``jsonnet/jsonnet.go`` ``Parse``/``mapBuild``/``mapRepo``: the same values as external
  variables ``build.<field>`` and ``repo.<field>``; an array result is a stream of documents
  (``EvaluateSnippetStream``), anything else one document; ``vm.MaxStack = 500``.
- drone/drone ``service/hook/parser/parse.go``: for a tag, ``Source``/``Target`` (``branch``)
  are the tag name; ``Title`` is set for pull requests only.
The converted text then goes through the same chain as a ``.drone.yml`` (``${...}``
substitution included, as drone-runner-docker substitutes the converted file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.commands.lint import run_lint
from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.config import load_pipeline
from runner.pipeline.configlang import drone_build, drone_repo, script_language
from runner.pipeline.lint import lint_files
from runner.pipeline.spec import KIND_CLONE, BuildContext
from runner.pipeline.starlark_fields import fields_as_keys

FILES = Path(__file__).parent / "fidelity" / "configlang"
SHA = "5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f"
PUSH = BuildContext(
    repo="acme/app",
    event="push",
    branch="dev",
    ref="refs/heads/dev",
    commit=SHA,
    message="add feature",
    remote_url="https://git.example.com/acme/app.git",
)
TAG = BuildContext(
    repo="acme/app",
    event="tag",
    branch="main",
    tag="v1.4.0",
    ref="refs/tags/v1.4.0",
    commit=SHA,
    message="release",
    remote_url="https://git.example.com/acme/app.git",
)


def _compile(source: str, ctx: BuildContext, name: str = "") -> dict[str, list[list[str]]]:
    """Stage name → the commands of each of its steps (the clone left out)."""
    path = FILES / source
    name = name or ".drone" + path.suffix
    build = load_pipeline({name: path.read_text(encoding="utf-8")}, ctx)
    return {
        stage.name: [step.commands for step in stage.steps if step.kind != KIND_CLONE]
        for stage in build.stages
    }


def _compile_text(name: str, text: str, ctx: BuildContext) -> list[str]:
    return [stage.name for stage in load_pipeline({name: text}, ctx).stages]


def _error(source: str, ctx: BuildContext = PUSH) -> PipelineError:
    path = FILES / source
    with pytest.raises(PipelineError) as caught:
        load_pipeline({".drone" + path.suffix: path.read_text(encoding="utf-8")}, ctx)
    return caught.value


@pytest.mark.parametrize("source", ["two_pipelines.star", "two_pipelines.jsonnet"])
def test_a_push_gets_the_one_pipeline_the_file_returns_for_its_branch(source):
    assert _compile(source, PUSH) == {
        "test": [["echo testing acme/app on dev", "echo commit 5d2f8c1 of app"]]
    }


@pytest.mark.parametrize("source", ["two_pipelines.star", "two_pipelines.jsonnet"])
def test_a_tag_gets_two_pipelines_and_its_branch_is_the_tag_name(source):
    assert _compile(source, TAG) == {
        "test": [["echo testing acme/app on v1.4.0", "echo commit 5d2f8c1 of app"]],
        "release": [["echo releasing refs/tags/v1.4.0", "echo commit 5d2f8c1 of app"]],
    }


@pytest.mark.parametrize("extension", [".star", ".starlark", ".script"])
def test_every_starlark_extension_drone_converts_is_evaluated(extension):
    assert script_language(f"ci/pipeline{extension}") == "starlark"
    stages = _compile("two_pipelines.star", PUSH, name=f"ci/pipeline{extension}")
    assert list(stages) == ["test"]


def test_a_jsonnet_object_is_one_document():
    assert _compile("one_pipeline.jsonnet", PUSH) == {"only": [["echo one"]]}


def test_a_starlark_main_returning_neither_dict_nor_list_is_refused():
    error = _error("not_a_pipeline.star")
    assert "main returns an invalid type (tuple)" in str(error)


def test_a_starlark_file_without_main_is_refused():
    with pytest.raises(PipelineError, match="missing main function"):
        load_pipeline({".drone.star": "pipelines = []\n"}, PUSH)


def test_the_context_carries_drones_build_fields():
    pull = BuildContext(
        repo="acme/app",
        event="pull_request",
        branch="main",
        source_branch="feature",
        target_branch="main",
        message="Add a feature\n\nbody",
        commit=SHA,
    )
    build = drone_build(pull)
    assert (build["branch"], build["target"], build["source"]) == ("main", "main", "feature")
    assert (build["title"], build["commit"], build["after"]) == ("Add a feature", SHA, SHA)
    assert drone_build(PUSH)["title"] == ""
    repo = drone_repo(PUSH)
    assert (repo["name"], repo["namespace"], repo["slug"]) == ("app", "acme", "acme/app")
    assert repo["link"] == "https://git.example.com/acme/app"
    assert repo["git_http_url"] == "https://git.example.com/acme/app.git"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def main(ctx):\n    while True:\n        pass\n", "does not support while loops"),
        ("def f(n):\n    return f(n)\n\ndef main(ctx):\n    return f(1)\n", "called recursively"),
        ("x = 1\nx = 2\n\ndef main(ctx):\n    return {}\n", "cannot reassign global x"),
    ],
)
def test_the_starlark_dialect_is_drones(source, reason):
    # Drone runs starlark.ExecFile with go.starlark.net's default resolver options: no while,
    # no recursion, no global reassignment (go.starlark.net resolve.AllowRecursion et al.).
    with pytest.raises(PipelineError, match=reason) as caught:
        load_pipeline({".drone.star": source}, PUSH)
    assert caught.value.line == 2


def test_jsonnet_gets_the_external_variables_drone_sets_and_no_others():
    source = (
        "{kind: 'pipeline', name: std.extVar('repo.namespace') + '-' + std.extVar('build.after'),"
        " steps: [{name: 'a', image: 'runner-test/busybox', commands: ['true']}]}"
    )
    assert _compile_text(".drone.jsonnet", source, PUSH) == [f"acme-{SHA}"]
    with pytest.raises(PipelineError, match="undefined external variable: build.cron"):
        load_pipeline({".drone.jsonnet": "std.extVar('build.cron')"}, PUSH)


def test_an_endless_starlark_loop_is_stopped_at_the_cpu_budget():
    error = _error("endless_loop.star")
    assert f"over the limit of {limits.SCRIPT_CPU_SECONDS} CPU seconds" in str(error)
    assert error.file == ".drone.star"


def test_an_endless_jsonnet_computation_is_stopped_at_a_budget():
    error = _error("endless_loop.jsonnet")
    assert "over the limit of" in str(error)
    assert "memory" in str(error) or "CPU seconds" in str(error)


def test_a_starlark_file_that_allocates_without_end_is_stopped_at_the_memory_budget():
    error = _error("memory_bomb.star")
    assert f"over the limit of {limits.SCRIPT_MEMORY_BYTES} bytes of memory" in str(error)


def test_an_evaluation_past_the_wall_clock_budget_is_stopped(monkeypatch):
    monkeypatch.setattr(limits, "SCRIPT_WALL_SECONDS", 0.001)
    error = _error("two_pipelines.star")
    assert "did not end: over the limit of 0 seconds" in str(error)


def test_a_huge_output_is_refused_at_the_file_size_budget():
    error = _error("huge_output.star")
    assert f"over the limit of {limits.MAX_FILE_BYTES} bytes per pipeline file" in str(error)


def test_starlark_load_is_refused_as_drone_refuses_it():
    error = _error("loads.star")
    assert "cannot load external scripts" in str(error)
    assert error.line == 1


def test_jsonnet_import_is_refused():
    error = _error("imports.jsonnet")
    assert 'couldn\'t open import "common.libsonnet": imports are refused' in str(error)
    assert error.line == 1


def test_jsonnet_recursion_stops_at_drones_stack_depth():
    with pytest.raises(PipelineError, match="max stack frames exceeded"):
        load_pipeline({".drone.jsonnet": "local f(n) = 1 + f(n + 1);\nf(0)\n"}, PUSH)


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("runtime_error.star", 6, "unknown binary op: int + string"),
        ("syntax_error.star", 5, "got string literal, want '}'"),
        ("runtime_error.jsonnet", 6, "RUNTIME ERROR: steps are missing"),
        ("fails.star", 3, "starlark: fail: Error: only tags build here"),
    ],
)
def test_an_error_names_the_file_and_the_line(source, line, reason):
    error = _error(source)
    assert (error.file, error.line) == (".drone" + Path(source).suffix, line)
    assert reason in str(error)


def test_a_problem_of_the_generated_yaml_says_its_lines_are_the_generated_ones():
    text = (FILES / "typo_in_step.star").read_text(encoding="utf-8")
    (issue,) = lint_files({".drone.star": text})
    assert issue.file == ".drone.star (generated YAML)"
    assert 'step "build": unknown step key "comands" (did you mean "commands"?)' in issue.message


def test_runner_lint_reads_a_starlark_file(tmp_path, capsys):
    good = tmp_path / ".drone.star"
    good.write_text((FILES / "two_pipelines.star").read_text(encoding="utf-8"))
    bad = tmp_path / "broken.star"
    bad.write_text((FILES / "runtime_error.star").read_text(encoding="utf-8"))
    assert run_lint([str(good)], trusted=False, privileged_images=[], fmt="text") == 0
    assert run_lint([str(bad)], trusted=False, privileged_images=[], fmt="text") == 1
    assert f"{bad}:6" in capsys.readouterr().out


def test_field_access_becomes_a_key_and_nothing_else_changes():
    source = (
        "def main(ctx):\n"
        "    # ctx.build.event\n"
        '    s = "ctx.repo.name" + ctx.repo.name.upper() + ctx . build . title\n'
        '    t = "x".title() + ctx.build.params.get("k", "") + "%d" % (1.5 + .5)\n'
    )
    assert fields_as_keys(source) == (
        "def main(ctx):\n"
        "    # ctx.build.event\n"
        '    s = "ctx.repo.name" + ctx["repo"]["name"].upper() + ctx ["build"] ["title"]\n'
        '    t = "x".title() + ctx["build"]["params"].get("k", "") + "%d" % (1.5 + .5)\n'
    )
