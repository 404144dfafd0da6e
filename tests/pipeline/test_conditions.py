"""Conditions: branch, event, ref, status, target, cron, instance, repo, action, paths, evaluate,
in scalar, list and include/exclude forms with doublestar globs; Woodpecker's OR-ed list."""

import dataclasses

import pytest

from runner.pipeline.conditions import parse_when
from runner.pipeline.environ import build_environment
from runner.pipeline.issues import IssueList
from runner.pipeline.spec import BuildContext

PUSH = BuildContext(repo="acme/app", event="push", branch="main", commit="a" * 40)
TAG = BuildContext(repo="acme/app", event="tag", branch="main", tag="v1.2.3")


def matches(raw, ctx, dialect="drone", matrix=None):
    issues = IssueList("f")
    when = parse_when(raw, "when", 1, issues, dialect)
    assert not [i for i in issues if i.blocking], issues
    return when.matches(ctx, {**build_environment(ctx), **(matrix or {})}, matrix)


@pytest.mark.parametrize(
    "raw, ctx, expected",
    [
        ({"branch": "main"}, PUSH, True),
        ({"branch": ["develop", "release/*"]}, PUSH, False),
        ({"branch": "release/*"}, dataclasses.replace(PUSH, branch="release/1.0"), True),
        ({"branch": "*"}, dataclasses.replace(PUSH, branch="feature/x"), False),
        ({"branch": {"exclude": ["main"]}}, PUSH, False),
        ({"event": ["push", "tag"]}, PUSH, True),
        ({"event": {"exclude": ["pull_request"]}}, PUSH, True),
        ({"event": "tag"}, PUSH, False),
        ({"ref": "refs/tags/v*"}, TAG, True),
        ({"ref": {"include": ["refs/heads/**"]}}, PUSH, True),
        (
            {"target": "production"},
            dataclasses.replace(PUSH, event="promote", target="production"),
            True,
        ),
        ({"environment": "staging"}, dataclasses.replace(PUSH, target="production"), False),
        ({"cron": "nightly"}, dataclasses.replace(PUSH, event="cron", cron="nightly"), True),
        ({"instance": "ci.example.com"}, PUSH, False),
        ({"repo": "acme/*"}, PUSH, True),
        ({"action": "opened"}, dataclasses.replace(PUSH, action="opened"), True),
        ({"event": "deployment"}, dataclasses.replace(PUSH, event="promote"), True),
        ({"event": "manual"}, dataclasses.replace(PUSH, event="custom"), True),
        ({"status": "failure"}, PUSH, True),  # status decides the run policy, not the match
    ],
)
def test_drone_fields(raw, ctx, expected):
    assert matches(raw, ctx) is expected


def test_paths_with_doublestar_include_and_exclude():
    ctx = dataclasses.replace(PUSH, changed_files=["docs/guide/intro.md"])
    assert matches({"paths": "docs/**"}, ctx)
    assert not matches({"paths": {"include": ["src/**"]}}, ctx)
    assert not matches({"paths": {"exclude": ["**/*.md"]}}, ctx)
    assert matches({"path": "src/**"}, PUSH)  # unknown changed files: the condition matches
    empty = dataclasses.replace(PUSH, changed_files=[], message="docs [force ci]")
    assert matches({"path": {"include": ["src/**"]}}, empty)
    assert not matches({"path": {"include": ["src/**"], "on_empty": False}}, empty)
    raw = {"path": {"include": ["src/**"], "ignore_message": "[force ci]"}}
    assert matches(raw, dataclasses.replace(ctx, message="docs [FORCE CI]"))


def test_drone_matches_branch_against_the_tag_name_on_tag_events():
    assert not matches({"branch": "main", "event": "tag"}, TAG)
    assert matches({"branch": "v*", "event": "tag"}, TAG)


def test_woodpecker_list_is_or_ed_and_branch_is_ignored_for_tags():
    raw = [{"event": "push", "branch": "develop"}, {"event": "tag", "branch": "develop"}]
    assert not matches(raw, PUSH, "woodpecker")
    assert matches(raw, TAG, "woodpecker")


def test_evaluate_expression_and_matrix():
    raw = [
        {"evaluate": 'CI_PIPELINE_EVENT == "push" && (GO == "1.22" || CI_COMMIT_BRANCH != "main")'}
    ]
    assert matches(raw, PUSH, "woodpecker", {"GO": "1.22"})
    assert not matches(raw, PUSH, "woodpecker", {"GO": "1.21"})
    assert matches({"matrix": {"GO": "1.22"}}, PUSH, "drone08", {"GO": "1.22"})


def test_statuses_give_the_run_policy():
    issues = IssueList("f")
    when = parse_when({"status": ["success", "failure"]}, "when", 1, issues, "drone")
    assert when.statuses(PUSH, {}) == {"success", "failure"}


def test_wrong_types_are_errors_with_path():
    issues = IssueList("f")
    parse_when(
        {"branch": {"main": 1}, "event": [["push"]], "status": "broken"}, "when", 3, issues, "drone"
    )
    errors = {i.path for i in issues if i.blocking}
    assert {"when.event", "when.status"} <= errors
    assert any(i.path == "when.branch.main" and not i.blocking for i in issues)
    assert any("unknown status" in i.message for i in issues)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('CI_COMMIT_MESSAGE contains "[deploy]"', True),
        ('CI_COMMIT_BRANCH startsWith "ma" and not (CI_REPO endsWith "/lib")', True),
        ('CI_COMMIT_BRANCH in ["main", "develop"]', True),
        ('CI_COMMIT_BRANCH not in ["main"]', False),
        ('CI_COMMIT_MESSAGE matches "^ré.*\\\\]$"', True),
        ('"REBUILD" in $env', False),
        ("CI_COMMIT_AUTHOR == 'o\\'brien'", True),
    ],
)
def test_evaluate_forms(expression, expected):
    from runner.pipeline.evaluate import evaluate

    ctx = dataclasses.replace(PUSH, message="ré [deploy]", author="o'brien")
    assert evaluate(expression, build_environment(ctx)) is expected


def test_evaluate_syntax_error_is_a_blocking_issue_at_its_line():
    # Woodpecker's Constraint.Match returns expr.Compile's error: the pipeline fails, the
    # condition is not "true" (the old warning hid a typo and ran the step).
    issues = IssueList("f")
    parse_when({"evaluate": "CI_COMMIT_BRANCH === 'x'"}, "when", 4, issues, "woodpecker")
    assert [(i.level, i.line) for i in issues] == [("error", 4)]


def test_evaluate_bad_regex_is_a_blocking_issue():
    issues = IssueList("f")
    parse_when({"evaluate": 'CI_COMMIT_BRANCH matches "(("'}, "when", 2, issues, "woodpecker")
    assert [i.level for i in issues] == ["error"] and "regular expression" in issues[0].message


def test_woodpecker_applies_path_and_cron_filters_to_their_events_only():
    tag = dataclasses.replace(TAG, changed_files=["docs/a.md"])
    assert matches({"path": "src/**"}, tag, "woodpecker")
    assert not matches({"paths": "src/**"}, tag, "drone")
    assert matches({"cron": "nightly"}, PUSH, "woodpecker")
    assert not matches({"cron": "nightly"}, PUSH, "drone")
