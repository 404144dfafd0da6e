"""Which environment a build targets, and validation of a pipeline file's `environments:` key."""

from __future__ import annotations

import pytest

from runner.environments import (
    EnvironmentDecl,
    decide_target,
    environment_applies,
    extract_declarations,
    parse_declaration,
)
from runner.errors import PipelineError

ENVS = [
    EnvironmentDecl("test", branches=["develop"], position=0),
    EnvironmentDecl("staging", branches=["release/*"], position=1),
    EnvironmentDecl("production", tags=["v*"], approval_required=True, lock=True, position=2),
]


@pytest.mark.parametrize(
    "event,branch,tag,expected",
    [
        ("push", "develop", "", "test"),
        ("push", "release/1.4", "", "staging"),
        ("tag", "", "v2.0.0", "production"),
        ("push", "main", "", None),
        ("tag", "", "nightly", None),
        ("pull_request", "develop", "", None),  # pull requests never deploy by default
        ("custom", "develop", "", "test"),
    ],
)
def test_target_from_branch_tag_and_event(event, branch, tag, expected):
    env = decide_target(ENVS, event=event, branch=branch, tag=tag)
    assert (env.name if env else None) == expected


def test_requested_target_wins_over_patterns_and_unknown_is_none():
    env = decide_target(ENVS, event="promote", branch="main", requested="production")
    assert env.name == "production"
    assert decide_target(ENVS, event="promote", branch="main", requested="nowhere") is None


def test_first_environment_by_position_wins():
    envs = [EnvironmentDecl("b", position=2), EnvironmentDecl("a", branches=["*"], position=1)]
    assert decide_target(envs, event="push", branch="x").name == "a"


def test_events_list_restricts_and_can_allow_pull_requests():
    env = EnvironmentDecl("preview", branches=["*"], events=["pull_request"])
    assert environment_applies(env, event="pull_request", branch="feature")
    assert not environment_applies(env, event="push", branch="feature")


FILE = """\
environments:
  test:
    branches: [develop]
    labels: {env: test}
  production:
    tags: v*
    labels: env=production
    approval: true
    lock: true

kind: pipeline
name: deploy
steps:
- name: show
  image: runner-test/busybox
  commands: [echo $DRONE_DEPLOY_TO]
"""


def test_declaration_is_read_and_blanked_keeping_line_numbers():
    files, declared = extract_declarations({".drone.yml": FILE})
    assert [d.name for d in declared] == ["test", "production"]
    prod = declared[1]
    assert prod.tags == ["v*"] and prod.labels == {"env": "production"}
    assert prod.approval_required and prod.lock
    text = files[".drone.yml"]
    assert "environments" not in text
    assert text.splitlines()[10] == "kind: pipeline"  # still line 11


def test_declaration_in_its_own_document_and_list_form():
    text = "---\nenvironments:\n- name: staging\n  branches: [release/*]\n---\nkind: pipeline\n"
    files, declared = extract_declarations({".drone.yml": text})
    assert declared[0].name == "staging" and declared[0].branches == ["release/*"]
    assert files[".drone.yml"].splitlines()[4:] == ["---", "kind: pipeline"]


def test_files_without_declaration_are_unchanged():
    files, declared = extract_declarations({"a.yml": "steps:\n  - name: x\n"})
    assert files == {"a.yml": "steps:\n  - name: x\n"} and declared == []


def test_every_problem_is_reported_with_file_line_and_path():
    text = (
        "kind: pipeline\nname: x\n"
        "environments:\n"
        "  prod:\n    aproval: true\n    lock: maybe\n    events: [deploy]\n"
        "  'bad name!': {}\n"
    )
    with pytest.raises(PipelineError) as info:
        extract_declarations({".drone.yml": text})
    issues = info.value.issues
    messages = [i.format() for i in issues]
    assert all(m.startswith(".drone.yml:3: error: environments.") for m in messages)
    assert any('unknown key "aproval" (did you mean "approval"?)' in m for m in messages)
    assert any("lock: not true or false" in m for m in messages)
    assert any("unknown event 'deploy'" in m for m in messages)
    assert any("bad name!" in m for m in messages)


def test_a_name_declared_twice_across_files_is_refused():
    one = "environments:\n  prod: {}\nsteps: []\n"
    with pytest.raises(PipelineError, match="declared twice"):
        extract_declarations({".woodpecker/a.yml": one, ".woodpecker/b.yml": one})


def test_wrong_shape_is_refused():
    with pytest.raises(PipelineError, match="mapping of environment names"):
        parse_declaration("production")
