"""An agent that lost its stage to a requeue cannot upload log lines into the next attempt's
log, even after it uploaded to that step earlier through the same server process."""

from __future__ import annotations

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.services.agents import issue_agent_token, register_agent
from runner.store import stage_from_spec
from tests.server.conftest import auth


def _queue_one(stores, repo) -> None:
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        steps=[StepSpec(name="test", image="runner-test/busybox", commands=["true"])],
    )
    stores.builds.create(
        Build(id=0, repo_id=repo.id, number=0, event="custom", stages=[stage_from_spec(spec)])
    )


def _claim(client, token: str) -> dict:
    resp = client.post("/rpc/v1/claim", headers=auth(token), json={"timeout": 0})
    assert resp.status_code == 200
    return resp.get_json()


def _upload(client, token: str, step_id: int, seq: int, text: str):
    return client.post(f"/rpc/v1/steps/{step_id}/logs?seq={seq}", headers=auth(token), data=text)


def _raw_log(stores, step_id: int) -> bytes:
    return b"".join(data for _seq, data in stores.logs.iter_chunks(step_id))


def test_requeued_stage_old_agent_cannot_write_into_new_attempt(client, stores, repo):
    old = issue_agent_token(stores, register_agent(stores, "old", labels={}, capacity=1))
    new = issue_agent_token(stores, register_agent(stores, "new", labels={}, capacity=1))
    _queue_one(stores, repo)

    first = _claim(client, old)
    stage_id = first["stage"]["id"]
    step_id = first["stage"]["steps"][0]["id"]
    assert _upload(client, old, step_id, 0, "old attempt line 1\n").status_code == 200

    assert stores.stages.requeue(stage_id, "agent lost")
    second = _claim(client, new)
    assert second["stage"]["id"] == stage_id

    late = _upload(client, old, step_id, 0, "late line of the old attempt\n")
    assert late.status_code == 403
    assert _upload(client, old, step_id, 1, "another late line\n").status_code == 403

    assert _upload(client, new, step_id, 0, "new attempt line 1\n").status_code == 200
    assert _upload(client, new, step_id, 1, "new attempt line 2\n").status_code == 200
    assert _raw_log(stores, step_id) == b"new attempt line 1\nnew attempt line 2\n"
