"""The three dialects read into one model: Drone 1.x kinds, Drone 0.8 clone steps and settings,
Woodpecker legacy pipeline key, services as list or map, runs_on, JSON workflows, names."""

import pytest

from runner.errors import PipelineError
from runner.pipeline.config import load_pipeline
from runner.pipeline.lint import lint_files
from runner.pipeline.spec import ALWAYS, KIND_SERVICE, BuildContext

CTX = BuildContext(repo="acme/app", event="push", branch="main", commit="1" * 40)


def test_drone_resource_kinds_are_ignored():
    text = (
        "kind: pipeline\nname: a\nsteps:\n- {name: s, image: alpine}\n---\n"
        "kind: secret\nname: token\nget: {path: x, name: y}\n---\n"
        "kind: signature\nhmac: abc\n...\n"
    )
    assert lint_files({".drone.yml": text}) == []
    assert [s.name for s in load_pipeline({".drone.yml": text}, CTX).stages] == ["a"]


def test_drone08_clone_step_sets_clone_options_and_is_not_a_step():
    text = (
        "clone:\n  git:\n    image: plugins/git\n    depth: 10\n    tags: true\n"
        "pipeline:\n  build:\n    image: maven\n    commands: [mvn verify]\n"
    )
    stage = load_pipeline({".drone.yml": text}, CTX).stages[0]
    assert (stage.clone.depth, stage.clone.tags) == (10, True)
    text = (
        "pipeline:\n  clone:\n    image: plugins/git\n    recursive: true\n"
        "  build:\n    image: maven\n    commands: [mvn verify]\n"
    )
    stage = load_pipeline({".drone.yml": text}, CTX).stages[0]
    assert stage.clone.submodules and [s.name for s in stage.steps] == ["clone", "build"]


def test_woodpecker_legacy_pipeline_key_is_refused_as_woodpecker_3_refuses_it():
    # Woodpecker 3.0 removed `pipeline:` (docs/src/pages/migrations.md): the file has no steps.
    text = "pipeline:\n  publish:\n    image: plugins/s3\n    bucket: site\n    acl: public-read\n"
    with pytest.raises(PipelineError, match='rename it to "steps:"'):
        load_pipeline({".woodpecker.yml": text}, CTX)


def test_woodpecker_services_list_and_map_runs_on_and_name_field():
    text = (
        "runs_on: [success, failure]\n"
        "services:\n  - name: db\n    image: postgres\n"
        "steps:\n  first:\n    name: renamed\n    image: alpine\n    commands: [true]\n"
    )
    stage = load_pipeline({".woodpecker/ci.yml": text}, CTX).stages[0]
    assert stage.name == "ci" and stage.run_policy == ALWAYS
    assert [s.name for s in stage.steps] == ["clone", "renamed"]
    assert stage.services[0].kind == KIND_SERVICE
    text = "services:\n  db:\n    image: postgres\nsteps:\n  - name: a\n    image: alpine\n"
    assert load_pipeline({".woodpecker.yml": text}, CTX).stages[0].services[0].name == "db"


def test_woodpecker_workflow_written_as_json():
    text = '{"labels": {"arch": "amd64"}, "steps": [{"name": "a", "image": "bash",\n'
    text += '"commands": ["echo hi"], "when": {"status": "failure"}}]}'
    stage = load_pipeline({".woodpecker/json.yaml": text}, CTX).stages[0]
    assert stage.labels == {"arch": "amd64"}
    assert stage.steps[1].run_policy == "on-failure"


def test_windows_platform_and_other_types_are_reported_not_crashed():
    files = {
        ".woodpecker/win.yml": "labels:\n  platform: windows/amd64\nsteps:\n  a:\n    image: x\n",
        ".woodpecker/lin.yml": "steps:\n  a:\n    image: x\n",
    }
    build = load_pipeline(files, CTX)
    assert [s.name for s in build.stages] == ["lin"] and build.unsupported == ["win"]
    for kind in ("exec", "ssh", "vm", "digitalocean", "kubernetes", "macstadium"):
        text = f"kind: pipeline\ntype: {kind}\nname: x\nsteps:\n- {{name: a, commands: [b]}}\n"
        (issue,) = lint_files({".drone.yml": text})
        assert issue.level == "warning" and "not runnable by the Docker engine" in issue.message


def test_top_level_branches_filter_of_drone08():
    text = "branches: [develop]\npipeline:\n  a:\n    image: alpine\n"
    build = load_pipeline({".drone.yml": text}, CTX)
    assert build.stages == [] and build.skipped == ["default"]
