"""Which compiled steps deploy to the build's target (``StepSpec.targets_environment``): a step
whose ``when``, or whose pipeline's ``trigger``, selects it by ``target``/``environment`` or by an
``evaluate`` of the deploy-target variables; a promote or rollback needs at least one."""

from __future__ import annotations

import pytest

from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext


def _ctx(target: str = "production", event: str = "promote") -> BuildContext:
    return BuildContext(repo="acme/app", event=event, target=target, commit="ab" * 20)


def _deploy_steps(name: str, text: str, ctx: BuildContext) -> list[str]:
    return load_pipeline({name: text}, ctx).deploy_steps


DRONE = """\
kind: pipeline
name: default
steps:
- name: build
  image: busybox
  commands: [make]
- name: deploy
  image: busybox
  commands: [./deploy]
  when:
    target: [production, staging]
- name: notify
  image: busybox
  commands: [./notify]
  when:
    event: promote
"""


def test_a_drone_step_with_a_target_condition_deploys_and_the_others_do_not():
    assert _deploy_steps(".drone.yml", DRONE, _ctx()) == ["default/deploy"]


def test_a_target_the_step_does_not_name_leaves_the_pipeline_without_a_deploy_step():
    assert _deploy_steps(".drone.yml", DRONE, _ctx("qa")) == []


def test_a_pipeline_trigger_on_the_target_makes_every_step_a_deploy_step():
    text = DRONE.replace("name: default\n", "name: default\ntrigger:\n  target: production\n")
    assert _deploy_steps(".drone.yml", text, _ctx()) == [
        "default/build",
        "default/deploy",
        "default/notify",
    ]


def test_an_exclude_only_target_names_no_environment():
    text = DRONE.replace("target: [production, staging]", "target: {exclude: [qa]}")
    assert _deploy_steps(".drone.yml", text, _ctx()) == []


def test_drone08_environment_condition_marks_the_deploy_step():
    text = """\
pipeline:
  build:
    image: busybox
    commands: [make]
  ship:
    image: busybox
    commands: [./deploy]
    when:
      environment: production
"""
    assert _deploy_steps(".drone.yml", text, _ctx()) == ["default/ship"]


@pytest.mark.parametrize("variable", ["CI_PIPELINE_DEPLOY_TARGET", "DRONE_DEPLOY_TO"])
def test_a_woodpecker_evaluate_of_the_deploy_target_marks_the_step(variable):
    text = f"""\
steps:
  build:
    image: busybox
    commands: [make]
  deploy:
    image: busybox
    commands: [./deploy]
    when:
      - evaluate: '{variable} == "production"'
"""
    assert _deploy_steps(".woodpecker.yml", text, _ctx()) == ["woodpecker/deploy"]


def test_a_push_without_target_has_no_deploy_step():
    ctx = BuildContext(repo="acme/app", event="push", branch="main", commit="ab" * 20)
    assert _deploy_steps(".drone.yml", DRONE, ctx) == []
