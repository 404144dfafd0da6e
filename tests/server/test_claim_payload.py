"""What an agent receives with a claimed stage: the spec, the build context, and only the
secrets each step may see (by image, event and pull-request rule), renamed per step."""

from __future__ import annotations

from runner.core import Build
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
    assert publish["secrets"] == [{"env": "DOCKER_PASSWORD", "name": "0/registry"}]
    assert test["secrets"] == [{"env": "TOKEN", "name": "1/token"}]
    assert claimed["secrets"] == {"0/registry": "reg-pass", "1/token": "tok-value"}
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
