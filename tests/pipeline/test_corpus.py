"""Every real pipeline file of the corpus that Drone or Woodpecker would run on its Docker
runner lints and plans (parse, lint, conditions, compile; ``runner.pipeline.plan``) for a push to
the default branch and for the tag v1.2.3, and the corpus report says so.

"Would run" per file: Drone hands each stage only to a runner of its kind and type
(drone/drone, scheduler/queue/queue.go, ``queue.signal``: ``matchResource(w.kind, w.typ,
item.Kind, item.Type)``, then the platform), so a ``type: kubernetes``, ``exec`` or ``vm``
stage is not the Docker runner's work; Woodpecker hands a workflow only to an agent whose
labels (``platform``, ``backend``) fit it. Files all of whose stages are for another runner
are reported with the reason, not failed; the exceptions
below are files their own system rejects too, each with its reason.
"""

import io
import os
from contextlib import redirect_stdout

import pytest

from runner.pipeline.corpus_report import check_corpus, corpus_files, default_corpus_dir, main

WOODPECKER3_SECRETS = (
    "Usage of `secrets` was removed in Woodpecker 3.0",
    "step secrets: is an error of Woodpecker 3.x's linter (lintContainerDeprecations)",
)
WOODPECKER3_PIPELINE = (
    'removed the top-level "pipeline:"',
    "Woodpecker 3.x reads no steps from pipeline: (Invalid or missing `steps` section)",
)
# file -> (text the error must contain, why this is right)
EXCEPTIONS = {
    # Woodpecker 3.0 removed these keys (docs/src/pages/migrations.md); 3.x refuses the files.
    "woodpecker/Andre601__AdvancedServerList__.woodpecker_pr_preview.yml": WOODPECKER3_SECRETS,
    "woodpecker/Andre601__AdvancedServerList__.woodpecker_publish_assets.yml": WOODPECKER3_SECRETS,
    "woodpecker/InvidJS__InvidJS__.woodpecker.yaml": WOODPECKER3_SECRETS,
    "woodpecker/danog__MadelineProto__.woodpecker_.build.yml": WOODPECKER3_SECRETS,
    "woodpecker/danog__MadelineProto__.woodpecker_.test.yml": WOODPECKER3_SECRETS,
    "woodpecker/BDX-town__Akkoma__.woodpecker.yml": WOODPECKER3_PIPELINE,
    "woodpecker/Bavarder__Bavarder__.woodpecker.yml": WOODPECKER3_PIPELINE,
    "drone/SohoHouse__vue-renderer__.drone.yml": (
        "commands[3]: expected a plain value, not a map",
        "${TAG} is not a build variable, so Drone 0.8 substituted it with nothing too: the "
        "command then ends in ':' and YAML reads it as a map, which Drone rejected as well",
    ),
}
# file -> what the report says about its stages: they are for another runner
OTHER_RUNNER = {
    "drone/Deeplerg__nvideo__.drone.yaml": "type: kubernetes",
    "drone/HYY-yu__seckill.shop__.drone.yml": "type: kubernetes",
    "drone/UKHomeOffice__UKVI-Complaints__.drone.yml": "type: kubernetes",
    "drone/UKHomeOffice__acp-tf-s3__.drone.yml": "type: kubernetes",
    "drone/UKHomeOffice__application-container-platform__.drone.yml": "type: kubernetes",
    "drone/photoprism__photoprism__.drone.yml": "type: exec",
    "woodpecker/CatalaLang__catala__.woodpecker_windows.yaml": "windows platform",
    "woodpecker/MayNiklas__nixos__.woodpecker_x86-linux.yaml": "backend local",
}


@pytest.fixture(scope="module")
def results():
    directory = default_corpus_dir()
    if not directory.is_dir():
        message = f"corpus missing at {directory} (expected shared/corpus beside the repository)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    found = check_corpus(directory)
    assert len(found) == len(corpus_files(directory)) >= 70
    return {r.name: r for r in found}


def test_every_file_its_system_would_run_lints_and_plans_for_push_and_tag(results):
    unexpected = {
        name: r.error or f"{r.lint_errors} lint errors"
        for name, r in results.items()
        if (r.error or r.lint_errors) and name not in EXCEPTIONS and not r.other_runner
    }
    assert unexpected == {}
    runnable = [r for n, r in results.items() if n not in EXCEPTIONS and not r.other_runner]
    assert all(r.planned == ["push", "tag"] for r in runnable)


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_exception_fails_for_its_reason(results, name):
    expected, _reason = EXCEPTIONS[name]
    assert not results[name].passed, f"{name} passes now: remove it from EXCEPTIONS"
    assert expected in results[name].error


def test_files_for_another_runner_are_reported_with_the_reason_not_failed(results):
    other = {name: r for name, r in results.items() if r.other_runner}
    assert set(other) == set(OTHER_RUNNER)
    for name, result in other.items():
        reasons = list(result.not_runnable.values())
        assert reasons and all(OTHER_RUNNER[name] in reason for reason in reasons), name


def test_files_with_runnable_and_unrunnable_stages_run_the_docker_ones(results):
    runner_docker = results["drone/drone-runners__drone-runner-docker__.drone.yml"]
    assert runner_docker.passed and runner_docker.planned == ["push", "tag"]
    assert not runner_docker.other_runner
    assert runner_docker.not_runnable["testing"].startswith("type: vm is not runnable")


def test_the_report_prints_lint_and_plan_counts_and_the_unrunnable_stages(results):
    out = io.StringIO()
    with redirect_stdout(out):
        assert main([str(default_corpus_dir())]) == 0
    lines = out.getvalue().splitlines()
    total = len(results)
    planned = sum("push" in r.planned for r in results.values())
    assert lines[0] == f"{total} corpus files"
    assert f"plan for push:       {planned}/{total}" in lines
    assert any(line.startswith("plan for tag:") for line in lines)
    assert any(line.startswith("lint without errors:") for line in lines)
    assert "  drone/photoprism__photoprism__.drone.yml: linux-amd64: type: exec" in "\n".join(lines)
    assert f"files that do not plan: {len(EXCEPTIONS)}" in lines


def test_lint_corpus_bench_covers_every_file(results):
    from bench.scenarios import lint_corpus

    figures = lint_corpus.run()
    assert figures["scenario"] == "lint-corpus"
    assert figures["files"] == len(results)
    assert figures["passed"] == sum(r.passed for r in results.values())
    assert {"seconds", "per_file_ms", "target"} <= set(figures)


def test_plan_bench_plans_every_file_the_report_plans(results):
    from bench.scenarios import plan

    figures = plan.run()
    assert figures["scenario"] == "plan"
    assert figures["files"] == len(results)
    assert figures["planned"] == sum("push" in r.planned for r in results.values())
    assert {"seconds", "per_file_ms", "ratio", "floor_yaml_seconds", "target"} <= set(figures)
