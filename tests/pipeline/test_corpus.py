"""Every real pipeline file of the corpus goes through parse, lint, conditions (push to the
default branch, tag v1.2.3) and compile with no error its own system would not raise; the
exceptions are listed here, each with its reason."""

import os

import pytest

from runner.pipeline.corpus_report import check_corpus, corpus_files, default_corpus_dir

NOT_RUNNABLE = "says clearly that the Docker engine cannot run it"
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
    "drone/Deeplerg__nvideo__.drone.yaml": ("type: kubernetes", NOT_RUNNABLE),
    "drone/HYY-yu__seckill.shop__.drone.yml": ("type: kubernetes", NOT_RUNNABLE),
    "drone/UKHomeOffice__UKVI-Complaints__.drone.yml": ("type: kubernetes", NOT_RUNNABLE),
    "drone/UKHomeOffice__acp-tf-s3__.drone.yml": ("type: kubernetes", NOT_RUNNABLE),
    "drone/UKHomeOffice__application-container-platform__.drone.yml": (
        "type: kubernetes",
        NOT_RUNNABLE,
    ),
    "drone/photoprism__photoprism__.drone.yml": ("type: exec", NOT_RUNNABLE),
    "woodpecker/CatalaLang__catala__.woodpecker_windows.yaml": ("windows platform", NOT_RUNNABLE),
    "woodpecker/MayNiklas__nixos__.woodpecker_x86-linux.yaml": ("backend local", NOT_RUNNABLE),
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


def test_every_file_passes_or_is_a_listed_exception(results):
    unexpected = {
        name: r.error for name, r in results.items() if not r.passed and name not in EXCEPTIONS
    }
    assert unexpected == {}


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_exception_fails_for_its_reason(results, name):
    expected, _reason = EXCEPTIONS[name]
    assert not results[name].passed, f"{name} passes now: remove it from EXCEPTIONS"
    assert expected in results[name].error


def test_files_with_runnable_and_unrunnable_stages_run_the_docker_ones(results):
    runner_docker = results["drone/drone-runners__drone-runner-docker__.drone.yml"]
    assert runner_docker.passed and runner_docker.unsupported


def test_lint_corpus_bench_covers_every_file(results):
    from bench.scenarios import lint_corpus

    figures = lint_corpus.run()
    assert figures["scenario"] == "lint-corpus"
    assert figures["files"] == len(results)
    assert figures["passed"] == sum(r.passed for r in results.values())
    assert {"seconds", "per_file_ms", "target"} <= set(figures)
