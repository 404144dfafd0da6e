"""The deploy report on the agent RPC: a step update may carry ``deploy`` (what the step
reported of its deployment), which lands in the build's deployment record; a report that breaks
the contract (unknown key, wrong value, oversized or NUL text) is a 400 naming it and changes
nothing. The whole channel through Docker is tests/agents/test_deployments.py."""

from __future__ import annotations

import pytest

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.services.agents import issue_agent_token, register_agent
from runner.store import stage_from_spec
from tests.server.conftest import auth


@pytest.fixture
def claimed(client, stores, repo):
    """An agent token, and the stage and step ids of a claimed deploy to production."""
    token = issue_agent_token(stores, register_agent(stores, "a", labels={}, capacity=1))
    spec = StageSpec(
        name="deploy",
        clone=CloneSpec(disable=True),
        steps=[StepSpec(name="deploy", image="runner-test/busybox", commands=["true"])],
    )
    stores.builds.create(
        Build(
            id=0,
            repo_id=repo.id,
            number=0,
            event="push",
            branch="main",
            commit="b" * 40,
            target="production",
            stages=[stage_from_spec(spec)],
        )
    )
    payload = client.post("/rpc/v1/claim", headers=auth(token), json={"timeout": 0}).get_json()
    return token, payload["stage"]["id"], payload["stage"]["steps"][0]["id"]


def record(stores, repo):
    [found] = stores.deployments.of_repo(repo.id)
    return found


def test_a_step_update_writes_its_report_into_the_record(client, stores, repo, claimed):
    token, stage_id, step_id = claimed
    report = {"state": "canary", "strategy": "canary", "traffic_share": 30, "image": "app:2"}
    resp = client.post(
        f"/rpc/v1/stages/{stage_id}/steps/{step_id}",
        headers=auth(token),
        json={"status": "success", "exit_code": 0, "deploy": report},
    )
    assert resp.status_code == 200
    found = record(stores, repo)
    assert (found.state, found.traffic_share, found.image, found.agent) == (
        "canary",
        30,
        "app:2",
        "a",
    )
    client.post(f"/rpc/v1/stages/{stage_id}/done", headers=auth(token), json={"status": "success"})
    assert record(stores, repo).state == "canary", "a canary left running is not live"


@pytest.mark.parametrize(
    ("report", "why"),
    [
        ({"state": "live", "owner": "x"}, "unknown key 'owner'"),
        ({"state": "gone"}, "state must be one of"),
        ({"traffic_share": -1}, "traffic_share must be a number from 0 to 100"),
        ({"message": "m" * 2001}, "message is longer than 2000"),
        ({"image": "a\x00b"}, "image must not contain control characters"),
        ("live", "must be a JSON object"),
    ],
)
def test_a_broken_report_is_refused_and_changes_nothing(client, stores, repo, claimed, report, why):
    token, stage_id, step_id = claimed
    resp = client.post(
        f"/rpc/v1/stages/{stage_id}/steps/{step_id}",
        headers=auth(token),
        json={"status": "success", "deploy": report},
    )
    assert resp.status_code == 400
    assert why in resp.get_json()["error"] and resp.get_json()["error"].startswith("deploy: ")
    assert record(stores, repo).state == "running"
    assert stores.steps.get(step_id).status == "pending"
