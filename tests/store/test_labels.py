"""Label matching: stages go only to agents whose labels fit, required labels keep agents apart."""

from __future__ import annotations

import pytest

from runner.labels import describe, matches, split_agent_labels


@pytest.mark.parametrize(
    ("stage", "agent", "required", "expected"),
    [
        ({}, {}, {}, True),
        ({}, {"os": "linux"}, {}, True),
        ({"os": "linux"}, {"os": "linux", "arch": "amd64"}, {}, True),
        ({"os": "linux"}, {"arch": "amd64"}, {}, False),
        ({"os": "windows"}, {"os": "linux"}, {}, False),
        ({"os": "linux"}, {"os": "*"}, {}, True),
        ({"os": "*"}, {"os": "linux"}, {}, True),
        ({"platform": "linux/arm64"}, {"platform": "linux/*"}, {}, True),
        ({"platform": "linux/arm64"}, {"platform": "windows/*"}, {}, False),
        # A production agent takes production stages only.
        ({}, {"env": "production"}, {"env": "production"}, False),
        ({"os": "linux"}, {"os": "linux", "env": "production"}, {"env": "production"}, False),
        ({"env": "production"}, {"env": "production"}, {"env": "production"}, True),
        ({"env": "staging"}, {"env": "production"}, {"env": "production"}, False),
    ],
)
def test_matches(stage, agent, required, expected):
    assert matches(stage, agent, required) is expected


def test_required_labels_written_with_bang_in_agent_labels():
    agent = {"os": "linux", "!env": "production"}
    assert split_agent_labels(agent) == (
        {"os": "linux", "env": "production"},
        {"env": "production"},
    )
    assert matches({"env": "production"}, agent)
    assert not matches({"os": "linux"}, agent)


def test_describe_names_what_a_waiting_stage_needs():
    assert describe({"env": "production"}) == "an agent with env=production"
    assert describe({}) == "any agent"
