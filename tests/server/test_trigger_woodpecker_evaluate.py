"""The Triggerer against a real git repository and SQLite with a Woodpecker file whose
``when.evaluate`` fails at run time: the build ends in ``error`` naming the file and line, as
Woodpecker fails the pipeline when ``Constraint.Match`` returns expr-lang's error
(woodpecker-ci/woodpecker pipeline/frontend/yaml/constraint/constraint.go); an expression that
holds gives a pending build with the steps it selects."""

from __future__ import annotations

import pytest
from test_trigger import Origin, add_repo, close_services, make_services, push_event

from runner.core import ERROR, PENDING

FILE = """\
steps:
  - name: always
    image: runner-test/busybox
    commands: [echo always]
  - name: release-only
    image: runner-test/busybox
    commands: [echo release]
    when:
      evaluate: '{condition}'
"""


@pytest.fixture
def hub(tmp_path):
    services = make_services(tmp_path)
    yield services
    close_services(services)


@pytest.fixture
def origin(tmp_path):
    return Origin(tmp_path / "git")


def test_a_type_error_in_evaluate_is_an_error_build_with_file_and_line(hub, origin):
    text = FILE.format(condition="CI_PIPELINE_NUMBER > 1")
    sha = origin.commit({".woodpecker.yml": text}, "compare a string with an int")
    build = hub.triggerer.trigger(add_repo(hub, origin), push_event(sha))
    assert build.status == ERROR and build.stages == []
    assert build.error.startswith(".woodpecker.yml:9")
    assert "mismatched types string and int" in build.error


def test_an_expression_that_holds_selects_its_step(hub, origin):
    text = FILE.format(condition='CI_COMMIT_MESSAGE startsWith "release" && int("1") == 1')
    repo = add_repo(hub, origin)
    sha = origin.commit({".woodpecker.yml": text}, "release 1.0")
    build = hub.triggerer.trigger(repo, push_event(sha, message="release 1.0"))
    assert build.status == PENDING
    assert [step.name for step in build.stages[0].steps] == ["clone", "always", "release-only"]
    sha = origin.commit({".woodpecker.yml": text + "# fix\n"}, "fix typo")
    build = hub.triggerer.trigger(repo, push_event(sha, message="fix typo"))
    assert [step.name for step in build.stages[0].steps] == ["clone", "always"]
