"""Compile: clone step, environment order, plugin settings and secrets, run policies, DAG and
groups, mounts and trust reasons, services, labels, matrix stages and stage dependencies."""

import dataclasses
import json

import pytest

from runner.errors import PipelineError
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import (
    ALWAYS,
    KIND_CLONE,
    KIND_SERVICE,
    ON_FAILURE,
    ON_SUCCESS,
    BuildContext,
    StageSpec,
)

CTX = BuildContext(repo="acme/app", event="push", branch="main", commit="c0ffee" * 6 + "abcd")


def compile_one(text, name=".drone.yml", ctx=CTX, **kw):
    build = load_pipeline({name: text}, ctx, **kw)
    assert len(build.stages) == 1, build
    return build.stages[0]


def steps_by_name(stage):
    return {s.name: s for s in stage.steps}


DRONE = """
kind: pipeline
name: ci
environment:
  LEVEL: pipeline
  SHARED: pipeline
  TOKEN: {from_secret: pipeline_token}
steps:
- name: test
  image: python:3.12
  environment:
    SHARED: step
    DRONE_BRANCH: overridden
    PASSWORD: {from_secret: db_password}
  commands:
  - pip install -e .
  - pytest
- name: publish
  image: plugins/docker
  settings:
    repo: acme/app
    tags: [latest, "1.0"]
    build-args: {A: 1}
    dry.run: true
    password: {from_secret: docker_password}
    auth: {user: bot, token: {from_secret: registry_token}}
  when:
    branch: main
- name: notify
  image: plugins/slack
  when:
    status: [success, failure]
- name: on-failure
  image: alpine
  commands: [echo failed]
  failure: ignore
  when:
    status: failure
- name: only-tags
  image: alpine
  commands: [echo tag]
  when:
    event: tag
"""


def test_clone_first_and_steps_in_order_with_unmatched_steps_left_out():
    stage = compile_one(DRONE)
    assert [s.name for s in stage.steps] == ["clone", "test", "publish", "notify", "on-failure"]
    clone = stage.steps[0]
    assert (clone.kind, clone.image) == (KIND_CLONE, "")
    assert stage.workspace == "/drone/src" and stage.steps[1].working_dir == "/drone/src"


def test_environment_order_globals_pipeline_system_step():
    stage = compile_one(DRONE, environ={"LEVEL": "agent", "AGENT_ONLY": "1", "DRONE_TAG": "x"})
    env = steps_by_name(stage)["test"].environment
    assert env["AGENT_ONLY"] == "1"
    assert env["LEVEL"] == "pipeline"  # pipeline over agent globals
    assert env["DRONE_TAG"] == ""  # system variables over agent globals
    assert env["SHARED"] == "step"  # step over pipeline
    assert env["DRONE_BRANCH"] == "overridden"  # step over system variables
    assert env["DRONE_STEP_NAME"] == env["CI_STEP_NAME"] == "test"
    assert env["CI_WORKSPACE"] == "/drone/src"
    refs = {(r.env, r.name) for r in steps_by_name(stage)["test"].secrets}
    assert refs == {("TOKEN", "pipeline_token"), ("PASSWORD", "db_password")}


def test_plugin_settings_and_secrets():
    step = steps_by_name(compile_one(DRONE))["publish"]
    env = step.environment
    assert env["PLUGIN_REPO"] == "acme/app"
    assert env["PLUGIN_TAGS"] == "latest,1.0"
    assert json.loads(env["PLUGIN_BUILD_ARGS"]) == {"A": 1}
    assert env["PLUGIN_BUILD-ARGS"] == env["PLUGIN_BUILD_ARGS"]
    assert env["PLUGIN_DRY_RUN"] == "true"
    # A nested from_secret stays a reference in the JSON; the agent puts the value there.
    auth = {"user": "bot", "token": {"from_secret": "registry_token"}}
    assert json.loads(env["PLUGIN_AUTH"]) == auth
    refs = {(r.env, r.name, tuple(r.path)) for r in step.secrets}
    assert refs >= {
        ("PLUGIN_PASSWORD", "docker_password", ()),
        ("PLUGIN_AUTH", "registry_token", ("token",)),
    }
    assert step.commands == []


def test_run_policies_and_failure_ignore():
    steps = steps_by_name(compile_one(DRONE))
    assert steps["test"].run_policy == ON_SUCCESS
    assert steps["notify"].run_policy == ALWAYS
    assert steps["on-failure"].run_policy == ON_FAILURE
    assert steps["on-failure"].failure_ignored


def test_spec_round_trips_through_json():
    stage = compile_one(DRONE)
    assert StageSpec.from_dict(json.loads(json.dumps(stage.to_dict()))) == stage


def test_dag_and_dependencies_on_left_out_steps():
    text = """
kind: pipeline
name: dag
steps:
- {name: a, image: alpine, commands: [a]}
- {name: b, image: alpine, commands: [b], depends_on: [a], when: {event: tag}}
- {name: c, image: alpine, commands: [c], depends_on: [b]}
"""
    steps = steps_by_name(compile_one(text))
    assert steps["a"].depends_on == ["clone"]
    assert "b" not in steps
    assert steps["c"].depends_on == ["a"]
    root_left_out = text.replace("depends_on: [a], ", "")
    assert steps_by_name(compile_one(root_left_out))["c"].depends_on == ["clone"]


def test_drone08_groups_secrets_implicit_plugin_and_environment_list():
    text = """
pipeline:
  backend:
    group: build
    image: golang
    commands: [go build]
    environment: [CGO_ENABLED=0]
    secrets: [api_key, {source: gh_token, target: github_token}]
  frontend:
    group: build
    image: node
    commands: [npm ci]
  slack:
    channel: dev
"""
    stage = compile_one(text, ctx=CTX)
    steps = steps_by_name(stage)
    assert steps["backend"].depends_on == ["clone"] == steps["frontend"].depends_on
    assert steps["slack"].depends_on == ["backend", "frontend"]
    assert steps["slack"].image == "plugins/slack"
    assert steps["slack"].environment["PLUGIN_CHANNEL"] == "dev"
    assert steps["backend"].environment["CGO_ENABLED"] == "0"
    refs = {(r.env, r.name) for r in steps["backend"].secrets}
    assert refs == {("API_KEY", "api_key"), ("GITHUB_TOKEN", "gh_token")}


def test_mounts_cache_services_labels_and_trust_reasons():
    text = """
kind: pipeline
name: m
node: {env: production}
platform: {os: linux, arch: arm64}
clone: {depth: 5}
cache: [/root/.cache/pip]
volumes:
- {name: tmp, temp: {}}
- {name: sock, host: {path: /var/run/docker.sock}}
services:
- {name: db, image: postgres:16, environment: {POSTGRES_PASSWORD: x}}
steps:
- name: build
  image: docker
  privileged: true
  network_mode: host
  volumes:
  - {name: tmp, path: /tmp/build}
  - {name: sock, path: /var/run/docker.sock}
  cache: [/root/.m2]
"""
    stage = compile_one(text, trusted=True)
    assert stage.labels == {"env": "production"} and stage.platform == "linux/arm64"
    assert stage.clone.depth == 5 and stage.trusted and stage.repo == "acme/app"
    assert stage.temp_volumes == ["tmp"]
    build = steps_by_name(stage)["build"]
    mounts = {(m.kind, m.source, m.target) for m in build.mounts}
    assert mounts == {
        ("temp", "tmp", "/tmp/build"),
        ("host", "/var/run/docker.sock", "/var/run/docker.sock"),
        ("cache", "default", "/root/.m2"),
        ("cache", "default", "/root/.cache/pip"),
    }
    assert build.needs_trust == [
        "privileged mode",
        "the Docker socket /var/run/docker.sock",
        "network_mode host",
    ]
    (db,) = stage.services
    assert db.kind == KIND_SERVICE and db.detach and db.environment["POSTGRES_PASSWORD"] == "x"


def test_clone_disabled_and_woodpecker_skip_clone():
    text = "kind: pipeline\nname: x\nclone: {disable: true}\nsteps:\n- {name: a, image: b}\n"
    assert [s.name for s in compile_one(text).steps] == ["a"]
    wp = "skip_clone: true\nsteps:\n  a:\n    image: b\n"
    assert [s.name for s in compile_one(wp, ".woodpecker.yml").steps] == ["a"]


def test_trigger_skips_stages_and_stage_dependencies_resolve():
    text = """
kind: pipeline
name: test
steps: [{name: a, image: b}]
---
kind: pipeline
name: release
trigger: {event: tag}
steps: [{name: a, image: b}]
---
kind: pipeline
name: report
depends_on: [test, release]
trigger: {status: [success, failure]}
steps: [{name: a, image: b}]
"""
    build = load_pipeline({".drone.yml": text}, CTX)
    assert [s.name for s in build.stages] == ["test", "report"]
    assert [s.number for s in build.stages] == [1, 2]
    assert build.skipped == ["release"]
    assert build.stages[1].depends_on == ["test"]
    assert build.stages[1].run_policy == ALWAYS


def test_woodpecker_leaves_out_workflows_whose_dependency_does_not_run_round_by_round():
    steps = "steps:\n  s:\n    image: b\n"
    files = {
        ".woodpecker/a.yml": "when:\n  event: tag\n" + steps,
        ".woodpecker/b.yml": "depends_on: [c]\n" + steps,
        ".woodpecker/c.yml": "depends_on: [a]\n" + steps,
        ".woodpecker/d.yml": steps,
    }
    build = load_pipeline(files, CTX)
    assert [s.name for s in build.stages] == ["d"]
    # a by its trigger, then c (needs a), then b (needs c): Woodpecker's rounds.
    assert build.skipped == ["a", "c", "b"]


def test_woodpecker_matrix_expands_and_substitutes():
    text = """
matrix:
  GO: ["1.21", "1.22"]
labels:
  arch: amd64
steps:
  test:
    image: golang:${GO}
    commands: [go test ./...]
    when:
      - evaluate: 'GO == "1.22"'
"""
    build = load_pipeline({".woodpecker/test.yml": text}, CTX)
    # GO=1.21 has no step left, so Woodpecker leaves the workflow out
    assert [s.name for s in build.stages] == ["test (GO=1.22)"]
    assert build.skipped == ["test (GO=1.21)"]
    (stage,) = build.stages
    assert stage.matrix == {"GO": "1.22"} and stage.number == 1
    assert [s.name for s in stage.steps] == ["clone", "test"]
    assert stage.steps[1].image == "golang:1.22"
    assert stage.steps[1].environment["GO"] == "1.22"
    assert stage.labels == {"arch": "amd64"}


def test_woodpecker_files_are_stages_with_dependencies():
    files = {
        ".woodpecker/build.yml": "steps:\n  - name: b\n    image: alpine\n",
        ".woodpecker/deploy.yml": "depends_on: [build]\nsteps:\n  - name: d\n    image: alpine\n",
    }
    build = load_pipeline(files, CTX)
    assert [(s.name, s.depends_on) for s in build.stages] == [("build", []), ("deploy", ["build"])]


def test_substitution_uses_build_variables():
    ctx = dataclasses.replace(CTX, event="tag", tag="v1.4.0")
    text = "kind: pipeline\nname: x\nsteps:\n- name: a\n  image: app:${DRONE_TAG##v}\n"
    assert compile_one(text, ctx=ctx).steps[1].image == "app:1.4.0"


def test_errors_raise_pipeline_error_with_every_issue():
    text = (
        "kind: pipeline\nname: x\nsteps:\n- name: a\n  image: b\n  detach: 3\n  depends_on: [z]\n"
    )
    with pytest.raises(PipelineError) as info:
        load_pipeline({".drone.yml": text}, CTX)
    assert len(info.value.issues) == 2
    assert str(info.value).startswith(".drone.yml:6: steps[0].detach: ")


def test_only_unrunnable_stages_is_a_clear_error():
    text = "kind: pipeline\ntype: kubernetes\nname: k\nsteps:\n- {name: a, image: b}\n"
    with pytest.raises(PipelineError, match="not runnable by the Docker engine"):
        load_pipeline({".drone.yml": text}, CTX)
    both = text + "---\nkind: pipeline\nname: d\nsteps:\n- {name: a, image: b}\n"
    build = load_pipeline({".drone.yml": both}, CTX)
    assert [s.name for s in build.stages] == ["d"] and build.unsupported == ["k"]
    assert any("not runnable" in w.message for w in build.warnings)


def test_matrix_is_found_when_the_raw_text_is_not_yaml_before_substitution():
    text = "matrix:\n  V: [one, two]\nsteps:\n  a:\n    image: alpine\n    commands: [echo ${V}]\n"
    build = load_pipeline({".woodpecker/m.yml": text}, CTX)
    assert [s.steps[1].commands for s in build.stages] == [["echo one"], ["echo two"]]
