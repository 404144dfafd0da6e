"""The compiled plan of Drone 0.8 files, nested ``from_secret`` and default workspaces is what
Drone 0.8, Drone 1.x and Woodpecker would run: one small file per item in ``fidelity/drone08``,
compiled by ``load_pipeline`` and checked on the fields the item is about.

Sources the expectations come from:

- cncd/pipeline (the Drone 0.8 pipeline library): ``pipeline/frontend/yaml/container.go``
  (``Container`` has no ``user`` field; unknown keys land in ``Vargs``; ``Containers.
  UnmarshalYAML`` reads the map as a ``yaml.MapSlice``, duplicates included) and
  ``pipeline/frontend/yaml/compiler/convert.go`` (``createProcess``: ``Vargs`` become
  ``PLUGIN_*`` for every step that is not detached; ``secrets:`` set ``strings.ToUpper(target)``),
  ``compiler/option.go`` (``WithWorkspaceFromURL``: ``src/<host>/<path>``);
- Drone 0.8's server ``server/procBuilder.go`` (``procBuilder.Build``:
  ``compiler.WithWorkspaceFromURL("/drone", b.Repo.Link)``);
- woodpecker-ci/woodpecker: ``pipeline/frontend/yaml/types/container_list.go``
  (``ContainerList.UnmarshalYAML`` keeps every pair of a steps map),
  ``pipeline/frontend/yaml/compiler/settings/params.go`` (``injectSecretRecursive``: a nested
  ``from_secret`` becomes the secret's value inside the setting's JSON),
  ``server/pipeline/items.go`` (``WithWorkspaceFromURL(compiler.DefaultWorkspaceBase,
  repo.ForgeURL)``, ``DefaultWorkspaceBase`` being ``/woodpecker`` in ``compiler/convert.go``);
- drone/runner-go ``manifest/parse.go`` (``yaml.Unmarshal`` of buildkite/yaml, a yaml.v2: of a
  key written twice the last one wins) and ``manifest/param.go`` (``Parameter``: only a whole
  setting can be ``from_secret``); docs.drone.io pipeline/docker/syntax/workspace (the default
  workspace is ``/drone/src``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.agent.masking import Masker
from runner.pipeline.config import load_pipeline
from runner.pipeline.plugin_settings import fill_secret, masked_forms
from runner.pipeline.spec import KIND_CLONE, BuildContext, StageSpec, StepSpec
from runner.pipeline.trust import published_names

FILES = Path(__file__).parent / "fidelity" / "drone08"
CTX = BuildContext(
    repo="acme/app",
    event="push",
    branch="main",
    ref="refs/heads/main",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    remote_url="https://git.example.com/acme/app.git",
)


def compile_file(name: str, as_name: str = ".drone.yml", ctx: BuildContext = CTX):
    text = (FILES / name).read_text(encoding="utf-8")
    return load_pipeline({as_name: text}, ctx)


def only_stage(name: str, as_name: str = ".drone.yml", ctx: BuildContext = CTX) -> StageSpec:
    build = compile_file(name, as_name, ctx)
    assert len(build.stages) == 1
    return build.stages[0]


def step(stage: StageSpec, name: str) -> StepSpec:
    return next(s for s in stage.steps if s.name == name)


def refs(unit: StepSpec) -> set[tuple[str, str, tuple[str | int, ...]]]:
    return {(r.env, r.name, tuple(r.path)) for r in unit.secrets}


# 1. Duplicate step keys


def test_drone08_step_key_written_twice_runs_both_steps_in_file_order():
    build = compile_file("duplicate_steps.yml")
    stage = build.stages[0]
    assert [s.name for s in stage.steps] == ["clone", "publish", "build", "publish-2"]
    assert step(stage, "publish").commands == ['echo "publish one in $(pwd)"']
    assert step(stage, "publish-2").commands == ['echo "publish two"']
    assert not any("duplicate" in w.message for w in build.warnings)


def test_woodpecker_steps_map_keeps_a_key_written_twice_too():
    stage = only_stage("woodpecker_duplicate_steps.yml", ".woodpecker.yml")
    assert [(s.name, s.commands) for s in stage.steps[1:]] == [
        ("test", ["echo one"]),
        ("test-2", ["echo two"]),
    ]


def test_drone1_key_written_twice_in_a_map_keeps_the_last_with_a_warning():
    build = compile_file("drone1_duplicate_keys.yml")
    assert step(build.stages[0], "test").environment["MODE"] == "second"
    assert [w.path for w in build.warnings if "duplicate key" in w.message] == [
        "steps[0].environment.MODE"
    ]


# 2. Drone 0.8 `user:`


def test_drone08_user_is_a_plugin_setting_not_the_container_user():
    stage = only_stage("plugin_user.yml")
    deploy = step(stage, "deploy")
    assert deploy.user == ""
    assert deploy.environment["PLUGIN_USER"] == "deploy"
    assert deploy.environment["PLUGIN_HOST"] == "deploy.example.com"
    # A commands step had its unknown keys exported the same way, and no container user.
    check = step(stage, "check")
    assert check.user == ""
    assert check.environment["PLUGIN_USER"] == "nobody"


def test_drone1_user_is_the_container_user():
    check = step(only_stage("drone1_user.yml"), "check")
    assert check.user == "nobody"
    assert "PLUGIN_USER" not in check.environment


# 3. Drone 0.8 `secrets:`


def test_drone08_secrets_reach_a_plugin_by_target_and_as_plugin_settings():
    stage = only_stage("secrets.yml")
    assert refs(step(stage, "publish")) == {
        ("DOCKER_USERNAME", "docker_username", ()),
        ("PLUGIN_DOCKER_USERNAME", "docker_username", ()),
        ("DOCKER_PASSWORD", "docker_prod_password", ()),
        ("PLUGIN_DOCKER_PASSWORD", "docker_prod_password", ()),
    }
    # A commands step gets what Drone 0.8 set: the target's name in upper case.
    assert refs(step(stage, "deploy")) == {("SSH_KEY", "ssh_key", ())}
    # A setting written in the file keeps its PLUGIN_ name; the secret has its target's.
    notify = step(stage, "notify")
    assert refs(notify) == {("TOKEN", "slack_token", ())}
    assert notify.environment["PLUGIN_TOKEN"] == "written-in-the-file"


# 4. Nested from_secret


def test_nested_from_secret_stays_a_reference_in_the_compiled_json():
    login = step(only_stage("nested_secret.yml", ".woodpecker.yml"), "login")
    logins = json.loads(login.environment["PLUGIN_LOGINS"])
    assert logins[0]["password"] == {"from_secret": "registry_password"}
    assert logins[1]["password"] == "not-a-secret"
    tags = json.loads(login.environment["PLUGIN_TAGS"])
    assert tags == ["latest", {"from_secret": "release_tag"}]
    assert refs(login) == {
        ("PLUGIN_LOGINS", "registry_password", (0, "password")),
        ("PLUGIN_TAGS", "release_tag", (1,)),
    }


def test_the_agent_puts_the_value_at_the_reference_and_nowhere_else():
    login = step(only_stage("nested_secret.yml", ".woodpecker.yml"), "login")
    ref = next(r for r in login.secrets if r.env == "PLUGIN_LOGINS")
    filled = json.loads(fill_secret(login.environment["PLUGIN_LOGINS"], ref.path, "pw-1"))
    assert filled[0] == {"registry": "registry.example.com", "username": "bot", "password": "pw-1"}
    assert filled[1]["password"] == "not-a-secret"
    # A variable the step replaced with its own text is left alone.
    assert fill_secret('{"password": "mine"}', ["password"], "pw-1") == '{"password": "mine"}'
    assert fill_secret("not json", [0], "pw-1") == "not json"


def test_a_secret_put_into_json_is_masked_in_its_escaped_form_too():
    key = 'line "one"\nline two'
    filled = fill_secret('[{"password": {"from_secret": "k"}}]', [0, "password"], key)
    assert json.loads(filled)[0]["password"] == key
    masker = Masker(masked_forms([key]))
    assert masker.mask(filled) == '[{"password":"******"}]'


def test_a_naming_setting_of_an_image_plugin_from_a_nested_secret_is_seen_as_one():
    # The trust rule refuses image names known only when the step runs; a secret inside a
    # list of tags is one of them.
    login = step(only_stage("nested_secret.yml", ".woodpecker.yml"), "login")
    with pytest.raises(ValueError, match="tags comes from the secret release_tag"):
        published_names(login)


# 5. Default workspaces


def test_default_workspace_of_each_dialect():
    cases = {
        ("workspace_drone1.yml", ".drone.yml"): "/drone/src",
        ("workspace_drone08.yml", ".drone.yml"): "/drone/src/git.example.com/acme/app",
        ("workspace_woodpecker.yml", ".woodpecker.yml"): "/woodpecker/src/git.example.com/acme/app",
        ("workspace_woodpecker_base.yml", ".woodpecker.yml"): "/go/src/git.example.com/acme/app",
    }
    for (name, as_name), expected in cases.items():
        stage = only_stage(name, as_name)
        where = step(stage, "where")
        clone = stage.steps[0]
        assert clone.kind == KIND_CLONE
        assert (stage.workspace, where.working_dir, clone.working_dir) == (expected,) * 3, name
        assert where.environment["CI_WORKSPACE"] == expected
        assert where.environment["DRONE_WORKSPACE"] == expected


def test_workspace_host_comes_from_an_ssh_clone_url_and_is_dropped_for_a_local_path():
    ssh = BuildContext(repo="acme/app", remote_url="git@github.com:acme/app.git")
    stage = only_stage("workspace_woodpecker.yml", ".woodpecker.yml", ssh)
    assert stage.workspace == "/woodpecker/src/github.com/acme/app"
    local = BuildContext(repo="local/project", remote_url="/srv/git/project")
    assert only_stage("workspace_drone08.yml", ctx=local).workspace == "/drone/src/local/project"
