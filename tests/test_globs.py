"""The one glob dialect (runner.globs): doublestar as Drone and Woodpecker match ``when: branch``,
and the same answer for ``feature/*`` against ``feature/a/b`` from every rule that takes a
pattern: ``when`` conditions, environments, secrets' images, the privileged list, agent labels,
agents' repository scope and the pipeline path."""

from __future__ import annotations

import pytest

from runner.environments import EnvironmentDecl, environment_applies
from runner.globs import glob_match, matches_any
from runner.labels import matches as labels_match
from runner.labels import narrow
from runner.pipeline.conditions import parse_when
from runner.pipeline.environ import build_environment
from runner.pipeline.issues import IssueList
from runner.pipeline.lookup import select_pipeline_files
from runner.pipeline.spec import BuildContext
from runner.pipeline.trust import image_matches, secret_fits
from runner.store.gates import in_scope


# The cases of doublestar's Match (github.com/bmatcuk/doublestar, README "Patterns"), which
# drone/runner-go (manifest/cond.go, Condition.Includes) and Woodpecker
# (pipeline/frontend/yaml/constraint/list.go, List.Includes) call for `when: branch`.
@pytest.mark.parametrize(
    "value, pattern, expected",
    [
        ("feature/a", "feature/*", True),
        ("feature/a/b", "feature/*", False),  # `*` does not cross `/`
        ("feature/a/b", "feature/**", True),  # `**` does
        ("feature/a/b", "**", True),
        ("main", "*", True),
        ("feature/a", "*", False),
        ("release/1.2", "release/?.?", True),
        ("release/1/2", "release/1?2", False),  # nor does `?`
        ("v1.4.0", "v*", True),
        ("develop", "{main,develop}", True),
        ("hotfix", "{main,develop}", False),
        ("release-3", "release-[0-9]", True),
        ("release-x", "release-[!0-9]", True),
        ("Main", "main", False),  # case counts
        (".hidden", "*", True),  # a leading dot is an ordinary character
        ("a[", "a[", True),  # a malformed pattern still matches its own text
        ("ab", "a[", False),
    ],
)
def test_doublestar_dialect_as_drone_and_woodpecker_use_it(value, pattern, expected):
    assert glob_match(value, pattern) is expected


def test_matches_any_needs_one_pattern():
    assert matches_any("release/2", ["main", "release/*"])
    assert not matches_any("release/2", [])


def _when_branch(pattern: str, branch: str) -> bool:
    issues = IssueList("f")
    when = parse_when({"branch": pattern}, "when", 1, issues, "drone")
    ctx = BuildContext(repo="acme/app", event="push", branch=branch, commit="a" * 40)
    return when.matches(ctx, build_environment(ctx), None)


@pytest.mark.parametrize(
    "pattern, value, expected",
    [
        ("feature/*", "feature/a", True),
        ("feature/*", "feature/a/b", False),
        ("feature/**", "feature/a/b", True),
    ],
)
def test_every_rule_gives_the_same_answer_for_one_pattern(pattern, value, expected):
    answers = {
        "when: branch": _when_branch(pattern, value),
        "environment branches": environment_applies(
            EnvironmentDecl(name="staging", branches=[pattern]), event="push", branch=value
        ),
        "environment tags": environment_applies(
            EnvironmentDecl(name="production", tags=[pattern]), event="tag", tag=value
        ),
        "secret images": secret_fits([pattern], value, plugin=True),
        "privileged images": image_matches(value, [pattern]),
        "agent label": labels_match({"branch": value}, {"branch": pattern}),
        "label narrowing": narrow({"branch": pattern}, {"branch": value}) is not None,
        "agent repo scope": in_scope({"repo": pattern}, value, "push"),
        "pipeline path": select_pipeline_files([value], pattern) == [value],
    }
    assert answers == dict.fromkeys(answers, expected)


def test_a_bare_star_label_takes_any_value_as_woodpecker_agents_do():
    # Woodpecker 2's agent filter (server/grpc, createFilterFunc): an agent label "*" takes
    # any value of that key, "/" included; any other value is a doublestar.Match pattern.
    assert labels_match({"platform": "linux/arm64"}, {"platform": "*"})
    assert labels_match({"platform": "*"}, {"platform": "linux/arm64"})
    assert not labels_match({"platform": "linux/arm64/v8"}, {"platform": "linux/*"})
