"""`runner plan` prints the compiled plan the agent would receive for one build, with what the
compiler leaves out put back and explained: steps, services and stages that do not run, and why.

Golden files in tests/pipeline/fidelity/plan/. What the originals do, which the plan reports:

- Drone keeps a step whose ``when`` does not match in the compiled spec and never runs it
  (drone-runners/drone-runner-docker, engine/compiler/compiler.go, ``Compiler.Compile``: "if the
  pipeline step has unmet conditions the step is automatically skipped", ``RunPolicy =
  runtime.RunNever``); the build page lists it as skipped. Woodpecker leaves it out of the
  compiled config (woodpecker-ci/woodpecker, pipeline/frontend/yaml/compiler/compiler.go,
  ``Compiler.Compile``: ``if match, err := container.When.Match(...); !match { continue }``).
  The plan shows it as ``runs: false`` with the field that refused it; the spec the agent
  receives stays as it is.
- Drone's ``when.status: [success, failure]`` is ``RunAlways`` (same function, ``isRunAlways``).
- Drone reads ``settings`` as ``PLUGIN_*`` and keeps ``from_secret`` as a reference by name,
  resolved only for the runner (drone-runners/drone-runner-docker, engine/compiler/compiler.go,
  ``Compiler.findSecret``, called by name for each step's secrets).
- A Woodpecker workflow with no step left for the event is not run, and neither is a workflow
  whose dependency does not run, transitively (woodpecker-ci/woodpecker, the stepbuilder
  package: ``StepBuilder.Build`` and ``filterItemsWithMissingDependencies``).
- A Drone ``type: kubernetes`` pipeline goes to the Kubernetes runner, not the Docker one
  (drone/drone, trigger/trigger.go matches stages to runners by ``kind``/``type``).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from runner.commands.plan import plan_main, render_text
from runner.errors import PipelineError
from runner.pipeline.config import load_pipeline
from runner.pipeline.plan import plan_files
from runner.pipeline.spec import BuildContext

FILES = Path(__file__).parent / "fidelity" / "plan"
PUSH = BuildContext(
    repo="acme/app",
    event="push",
    branch="main",
    ref="refs/heads/main",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    build_number=7,
)
TAG = BuildContext(
    repo="acme/app",
    event="tag",
    branch="main",
    tag="v1.4.0",
    ref="refs/tags/v1.4.0",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    build_number=8,
)
STEP_KEYS = {
    "name",
    "image",
    "commands",
    "environment",
    "privileged",
    "volumes",
    "depends_on",
    "runs",
    "skip_reason",
}
STAGE_KEYS = {"name", "depends_on", "runnable", "reason", "services", "steps"}


def _drone(ctx: BuildContext, *, trusted: bool = True) -> dict:
    text = (FILES / "drone_when.yml").read_text(encoding="utf-8")
    return plan_files({".drone.yml": text}, ctx, trusted=trusted).to_dict()


def _stage(plan: dict, name: str) -> dict:
    return next(s for s in plan["stages"] if s["name"] == name)


def _step(stage: dict, name: str, kind: str = "steps") -> dict:
    return next(s for s in stage[kind] if s["name"] == name)


def test_the_json_has_the_contracted_fields_for_every_stage_and_step():
    plan = json.loads(json.dumps(_drone(PUSH)))
    assert [s["name"] for s in plan["stages"]] == ["build", "cluster", "nightly", "docs"]
    for stage in plan["stages"]:
        assert STAGE_KEYS <= set(stage)
        for step in stage["services"] + stage["steps"]:
            assert STEP_KEYS <= set(step), step["name"]


def test_a_step_whose_when_does_not_match_is_shown_skipped_with_the_field_that_refused_it():
    build = _stage(_drone(PUSH), "build")
    assert [(s["name"], s["runs"]) for s in build["steps"]] == [
        ("clone", True),
        ("test", True),
        ("publish", False),
        ("deploy", False),
        ("notify", True),
    ]
    assert _step(build, "publish")["skip_reason"] == "when event: push is not tag"
    assert _step(build, "deploy")["skip_reason"] == "when branch: main is not release/*"
    cache = _step(build, "cache", "services")
    assert (cache["runs"], cache["skip_reason"]) == (False, "when event: push is not tag")


def test_the_plan_is_what_the_agent_receives_the_spec_keeps_leaving_skipped_steps_out():
    text = (FILES / "drone_when.yml").read_text(encoding="utf-8")
    compiled = load_pipeline({".drone.yml": text}, PUSH, trusted=True)
    spec = next(s for s in compiled.stages if s.name == "build")
    assert [s.name for s in spec.steps] == ["clone", "test", "notify"]
    assert spec.services == []
    planned = _stage(_drone(PUSH), "build")
    running = [s for s in planned["steps"] if s["runs"]]
    assert [s["name"] for s in running] == [s.name for s in spec.steps]
    for step, compiled_step in zip(running, spec.steps, strict=True):
        plain = {k: v for k, v in step["environment"].items() if isinstance(v, str)}
        assert plain == compiled_step.environment
        assert step["image"] == compiled_step.image
        assert step["depends_on"] == compiled_step.depends_on
        assert step["working_dir"] == compiled_step.working_dir


def test_on_a_tag_the_plugin_step_runs_with_its_settings_as_plugin_variables_and_secret_names():
    build = _stage(_drone(TAG), "build")
    publish = _step(build, "publish")
    assert publish["runs"] and publish["skip_reason"] == ""
    assert publish["image"] == "plugins/docker" and publish["privileged"] is True
    assert publish["settings"]["PLUGIN_REPO"] == "acme/app"
    assert publish["settings"]["PLUGIN_TAGS"] == "latest,1.4.0"  # ${DRONE_TAG##v}
    assert publish["environment"]["PLUGIN_PASSWORD"] == {"from_secret": "docker_password"}
    test = _step(build, "test")
    assert test["environment"]["API_TOKEN"] == {"from_secret": "api_token"}
    assert test["environment"]["GOFLAGS"] == "-mod=mod"
    assert test["commands"] == ["go test ./..."]
    assert _step(build, "cache", "services")["runs"]


def test_status_success_and_failure_is_run_always_and_failure_ignore_is_shown():
    notify = _step(_stage(_drone(PUSH), "build"), "notify")
    assert notify["run_policy"] == "always"
    assert notify["failure"] == "ignore"


def test_stages_that_do_not_run_say_why_and_keep_their_dependencies():
    plan = _drone(PUSH)
    cluster = _stage(plan, "cluster")
    assert not cluster["runnable"]
    assert cluster["reason"].startswith("type: kubernetes is not runnable by the Docker engine")
    nightly = _stage(plan, "nightly")
    assert (nightly["runnable"], nightly["reason"]) == (False, "trigger event: push is not cron")
    docs = _stage(plan, "docs")
    assert docs["runnable"] and docs["depends_on"] == ["build"]  # nightly does not run: done
    assert _stage(plan, "build")["runnable"] and _stage(plan, "build")["reason"] == ""


def test_woodpecker_workflows_left_without_steps_or_without_their_dependency_say_so():
    files = {
        ".woodpecker/release.yml": (FILES / "woodpecker_left_out.yml").read_text("utf-8"),
        ".woodpecker/announce.yml": (FILES / "woodpecker_after.yml").read_text("utf-8"),
    }
    plan = plan_files(files, PUSH).to_dict()
    reasons = {s["name"]: (s["runnable"], s["reason"]) for s in plan["stages"]}
    assert reasons == {
        "release": (False, "no step runs for this build (Woodpecker leaves such a workflow out)"),
        "announce": (False, "a workflow it depends on does not run (Woodpecker leaves it out too)"),
    }
    tagged = plan_files(files, TAG).to_dict()
    assert all(s["runnable"] for s in tagged["stages"])


def test_lint_errors_raise_with_file_and_line_and_no_plan():
    text = (FILES / "lint_error.yml").read_text(encoding="utf-8")
    with pytest.raises(PipelineError) as caught:
        plan_files({".drone.yml": text}, PUSH)
    assert caught.value.issues[0].line == 10


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(*files: str, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = plan_main(list(files), out=out, err=err, **options)
    return code, out.getvalue(), err.getvalue()


def test_cli_never_prints_a_secret_value_given_to_it(workdir):
    shutil.copy(FILES / "drone_when.yml", workdir / ".drone.yml")
    pairs = ("api_token=tok-4f1c2a9e", "docker_password=pw-9a8b7c6d")
    for fmt in ("json", "text"):
        code, out, _ = _cli(fmt=fmt, secret_pairs=pairs, tag="v1.4.0", trusted=True)
        assert code == 0
        assert "tok-4f1c2a9e" not in out and "pw-9a8b7c6d" not in out
    code, out, _ = _cli(fmt="text", secret_pairs=pairs, tag="v1.4.0", trusted=True)
    assert "API_TOKEN=<secret api_token>" in out
    assert "PLUGIN_PASSWORD=<secret docker_password>" in out


def test_cli_without_file_plans_the_files_a_server_would_read(workdir):
    (workdir / ".woodpecker").mkdir()
    shutil.copy(FILES / "woodpecker_left_out.yml", workdir / ".woodpecker" / "release.yml")
    shutil.copy(FILES / "woodpecker_after.yml", workdir / ".woodpecker" / "announce.yml")
    code, out, _ = _cli(fmt="json", tag="v2.0.0", repo="acme/app")
    assert code == 0
    plan = json.loads(out)
    assert [s["name"] for s in plan["stages"]] == ["announce", "release"]
    release = _stage(plan, "release")
    assert _step(release, "release")["environment"]["CI_COMMIT_TAG"] == "v2.0.0"
    assert _step(release, "release")["environment"]["CI_REPO"] == "acme/app"


def test_cli_prints_lint_errors_with_file_and_line_and_exits_1(workdir):
    shutil.copy(FILES / "lint_error.yml", workdir / "ci.yml")
    code, out, err = _cli("ci.yml")
    assert code == 1 and out == ""
    assert err.startswith("ci.yml:10: error: steps[0].depends_on:")


def test_cli_usage_errors_exit_2(workdir):
    assert _cli()[0] == 2  # no pipeline file here
    shutil.copy(FILES / "drone_when.yml", workdir / ".drone.yml")
    code, _, err = _cli(env_pairs=("nonsense",))
    assert code == 2 and "--env" in err


def test_text_is_aligned_in_file_order_and_stable(workdir):
    shutil.copy(FILES / "drone_when.yml", workdir / ".drone.yml")
    first = _cli(repo="acme/app", branch="main", commit="abc")[1]
    assert first == _cli(repo="acme/app", branch="main", commit="abc")[1]
    lines = first.splitlines()
    assert lines[0] == "stage build  [linux/amd64]  runs"
    rows = [line for line in lines if line.startswith("    ") and not line.startswith("     ")]
    assert rows == [
        "    cache  redis:6  skipped: when event: push is not tag",
        "    clone    -                runs",
        "    test     golang:1.21      runs",
        "    publish  plugins/docker   skipped: when event: push is not tag",
        "    deploy   alpine:3.19      skipped: when branch: main is not release/*",
        "    notify   plugins/webhook  runs (always)",
        "    clone  -            runs",  # stage docs
        "    site   alpine:3.19  runs",
    ]
    assert "stage nightly  [linux/amd64]  not run: trigger event: push is not cron" in lines
    assert "      failure: ignored" in lines


def test_text_hides_system_variables_unless_asked(workdir):
    plan = plan_files(
        {".drone.yml": (FILES / "drone_when.yml").read_text("utf-8")}, PUSH, trusted=True
    )
    short, full = render_text(plan), render_text(plan, system_env=True)
    assert "DRONE_COMMIT_SHA=" not in short and "system variables (--system-env" in short
    assert f"DRONE_COMMIT_SHA={PUSH.commit}" in full


def test_a_woodpecker_when_list_names_why_each_of_its_or_ed_items_refuses_the_build():
    """Woodpecker's ``when`` list: a step runs when any item matches (woodpecker-ci/woodpecker,
    pipeline/frontend/yaml/constraint/constraint.go, ``When.Match`` returns true on the first
    matching item), so a skipped step gives every item's reason."""
    text = (FILES / "woodpecker_or.yml").read_text(encoding="utf-8")
    release = BuildContext(repo="acme/app", event="push", branch="release/2", author="dev")
    steps = plan_files({".woodpecker.yml": text}, release).to_dict()["stages"][0]["steps"]
    publish = _step({"steps": steps}, "publish")
    assert publish["runs"] is False
    assert publish["skip_reason"] == (
        'when event: push is not tag; or evaluate: CI_COMMIT_AUTHOR == "bot" is false'
    )
    bot = BuildContext(repo="acme/app", event="push", branch="release/2", author="bot")
    steps = plan_files({".woodpecker.yml": text}, bot).to_dict()["stages"][0]["steps"]
    assert _step({"steps": steps}, "publish")["runs"] is True
