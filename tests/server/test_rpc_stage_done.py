"""A stage's end may carry the step updates the agent had not sent yet: they are recorded
before the stage ends, so the last step shows how it ended rather than ``killed``."""

from __future__ import annotations

from runner.services.agents import issue_agent_token, register_agent
from tests.server.conftest import auth, seed_build


def _claimed(client, stores, repo):
    token = issue_agent_token(stores, register_agent(stores, "a", labels={}, capacity=1))
    seed_build(stores, repo)
    payload = client.post("/rpc/v1/claim", headers=auth(token), json={"timeout": 0}).get_json()
    return token, payload["stage"]["id"], payload["stage"]["steps"][0]["id"]


def test_done_records_the_step_updates_it_carries_first(client, stores, repo):
    token, stage_id, step_id = _claimed(client, stores, repo)
    client.post(
        f"/rpc/v1/stages/{stage_id}/steps/{step_id}",
        headers=auth(token),
        json={"status": "running", "started": 10.0},
    )
    resp = client.post(
        f"/rpc/v1/stages/{stage_id}/done",
        headers=auth(token),
        json={
            "status": "failure",
            "steps": [{"id": step_id, "status": "failure", "exit_code": 3, "finished": 12.0}],
        },
    )
    assert resp.status_code == 200
    step = stores.steps.get(step_id)
    assert (step.status, step.exit_code, step.started, step.finished) == ("failure", 3, 10.0, 12.0)
    assert stores.stages.get(stage_id).status == "failure"


def test_done_without_the_last_update_marks_the_running_step_killed(client, stores, repo):
    token, stage_id, step_id = _claimed(client, stores, repo)
    client.post(
        f"/rpc/v1/stages/{stage_id}/steps/{step_id}",
        headers=auth(token),
        json={"status": "running"},
    )
    client.post(f"/rpc/v1/stages/{stage_id}/done", headers=auth(token), json={"status": "success"})
    assert stores.steps.get(step_id).status == "killed"


def test_malformed_step_updates_in_done_are_refused_and_change_nothing(client, stores, repo):
    token, stage_id, step_id = _claimed(client, stores, repo)
    for steps in ("all", [{"status": "success"}], [{"id": step_id}], [step_id]):
        resp = client.post(
            f"/rpc/v1/stages/{stage_id}/done",
            headers=auth(token),
            json={"status": "success", "steps": steps},
        )
        assert resp.status_code == 400, steps
        assert "steps" in resp.get_json()["error"]
    assert stores.stages.get(stage_id).status == "running"


def test_done_cannot_update_a_step_of_another_stage(client, stores, repo):
    token, stage_id, _step_id = _claimed(client, stores, repo)
    other = seed_build(stores, repo).stages[0].steps[0]
    resp = client.post(
        f"/rpc/v1/stages/{stage_id}/done",
        headers=auth(token),
        json={"status": "success", "steps": [{"id": other.id, "status": "success"}]},
    )
    assert resp.status_code == 404
    assert stores.steps.get(other.id).status == "pending"
