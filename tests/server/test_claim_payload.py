"""What an agent receives with a claimed stage: the spec, the build context, and only the
secrets each step may see (by image, event and pull-request rule), renamed per step, and the
names of those it may not see with why; the agent reads the answer back into the payload the
server built, and a malformed one is refused with the wrong field named."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from runner.core import Build
from runner.errors import PayloadError
from runner.pipeline.payload import StagePayload
from runner.pipeline.spec import CloneSpec, SecretRef, StageSpec, StepSpec
from runner.store import stage_from_spec
from tests.server.conftest import auth


def _build(stores, repo, event: str) -> Build:
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        steps=[
            StepSpec(
                name="publish",
                image="plugins/docker:20",
                secrets=[SecretRef(env="DOCKER_PASSWORD", name="registry")],
            ),
            StepSpec(
                name="test",
                image="runner-test/busybox",
                secrets=[
                    SecretRef(env="STOLEN", name="registry"),
                    SecretRef(env="TOKEN", name="token"),
                ],
            ),
        ],
    )
    build = Build(
        id=0,
        repo_id=repo.id,
        number=0,
        event=event,
        branch="main",
        commit="c" * 40,
        context={"commit": "c" * 40, "event": event},
        stages=[stage_from_spec(spec)],
    )
    return stores.builds.create(build)


def _claim(client, tokens) -> dict:
    resp = client.post("/rpc/v1/claim", headers=auth(tokens["agent"]), json={"timeout": 0})
    assert resp.status_code == 200
    return resp.get_json()


def test_secrets_reach_only_the_steps_allowed_to_see_them(client, stores, repo, tokens):
    stores.secrets.set(repo.id, "registry", "reg-pass", images=["plugins/docker"])
    stores.secrets.set(repo.id, "token", "tok-value")
    _build(stores, repo, "push")
    claimed = _claim(client, tokens)
    publish, test = claimed["spec"]["steps"]
    assert publish["secrets"] == [
        {"env": "DOCKER_PASSWORD", "name": "0/registry", "path": [], "parts": []}
    ]
    assert test["secrets"] == [{"env": "TOKEN", "name": "1/token", "path": [], "parts": []}]
    assert claimed["secrets"] == {"0/registry": "reg-pass", "1/token": "tok-value"}
    # What a step asked for and did not get is named with why, never with its value.
    assert claimed["withheld"] == {
        "test": {"registry": "it is restricted to other images (plugins/docker)"}
    }
    assert claimed["context"]["commit"] == "c" * 40
    assert [s["name"] for s in claimed["stage"]["steps"]] == ["publish", "test"]


def test_pull_requests_get_only_secrets_that_allow_them(client, stores, repo, tokens):
    stores.secrets.set(repo.id, "registry", "reg-pass", images=["plugins/docker"])
    stores.secrets.set(
        repo.id, "token", "tok-value", events=["push", "pull_request"], allow_pull_request=True
    )
    _build(stores, repo, "pull_request")
    claimed = _claim(client, tokens)
    assert claimed["secrets"] == {"1/token": "tok-value"}
    assert claimed["spec"]["steps"][0]["secrets"] == []
    assert claimed["withheld"] == {
        "publish": {"registry": "it is not allowed for pull requests"},
        "test": {"registry": "it is not allowed for pull requests"},
    }


def test_the_agent_reads_the_answer_into_the_payload_the_server_built(client, stores, repo, tokens):
    stores.secrets.set(repo.id, "token", "tok-value")
    build = _build(stores, repo, "push")
    resp = client.post("/rpc/v1/claim", headers=auth(tokens["agent"]), json={"timeout": 0})
    received = StagePayload.from_json(resp.data)
    stored = stores.builds.get(build.id).stages[0]
    assert received.stage.id == stored.id and received.build.number == build.number
    assert received.step_ids() == {s.name: s.id for s in stored.steps}
    assert received.context.commit == "c" * 40 and received.repo.slug == "acme/app"
    # The stored spec with the claim's own fields: the timeout, the renamed references.
    assert received.spec.timeout == repo.timeout
    assert received.spec.steps[1].secrets == [SecretRef(env="TOKEN", name="1/token")]
    expected_steps = [
        dataclasses.replace(step, secrets=received.spec.steps[i].secrets)
        for i, step in enumerate(stored.spec.steps)
    ]
    assert received.spec == dataclasses.replace(
        stored.spec, timeout=repo.timeout, steps=expected_steps
    )
    assert received.secrets == {"1/token": "tok-value"}


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda p: p["spec"]["steps"][0].pop("image"), "spec.steps.0.image: Field required"),
        (lambda p: p["stage"].update(id="5"), "stage.id: Input should be a valid integer"),
        (lambda p: p["secrets"].update(x=1), "secrets.x: Input should be a valid string"),
        (lambda p: p.pop("context"), "context: Field required"),
    ],
    ids=["missing-image", "id-as-text", "secret-not-text", "no-context"],
)
def test_a_malformed_payload_is_refused_naming_the_field(
    client, stores, repo, tokens, change, named
):
    _build(stores, repo, "push")
    resp = client.post("/rpc/v1/claim", headers=auth(tokens["agent"]), json={"timeout": 0})
    raw = json.loads(resp.data)
    change(raw)
    with pytest.raises(PayloadError, match=re.escape(named)) as refused:
        StagePayload.from_json(json.dumps(raw))
    assert refused.value.stage_id == (None if raw["stage"]["id"] == "5" else raw["stage"]["id"])


def test_a_payload_that_is_no_json_is_refused():
    with pytest.raises(PayloadError, match="payload is malformed") as refused:
        StagePayload.from_json(b"<html>proxy error</html>")
    assert refused.value.stage_id is None
