"""Secret names are case-insensitive and Drone 0.8 substituted secrets reach the agent by
reference: the API refuses a second secret whose name differs only by case (409), replaces a
secret named in another case, takes and lists ``substitute``; a claim resolves references in
any case and hands a substituted variable's parts to the agent with only the secrets the step
may see; the compile is told only the substitutable names a build may get.

Drone looks secrets up case-insensitively (drone/drone ``plugin/secret/static.go``,
``staticController.Find``: ``strings.EqualFold``); Drone 0.8 substituted only secrets added
with ``--skip-verify``, never into a pull request's file.
"""

from __future__ import annotations

from runner.core import Build
from runner.pipeline.spec import CloneSpec, SecretRef, StageSpec, StepSpec
from runner.store import stage_from_spec
from tests.server.conftest import auth


def _secrets_path(repo) -> str:
    return f"/api/v1/repos/{repo.slug}/secrets"


def test_a_name_differing_only_by_case_is_refused_and_put_replaces_it(client, repo, tokens):
    headers = auth(tokens["owner"])
    made = client.post(
        _secrets_path(repo),
        headers=headers,
        json={"name": "DOCKER_PASSWORD", "value": "one", "substitute": True},
    )
    assert made.status_code == 201 and made.get_json()["substitute"] is True
    twin = client.post(
        _secrets_path(repo), headers=headers, json={"name": "docker_password", "value": "two"}
    )
    assert twin.status_code == 409
    assert "DOCKER_PASSWORD exists and names are case-insensitive" in twin.get_json()["error"]
    replaced = client.put(
        _secrets_path(repo) + "/docker_password", headers=headers, json={"value": "three"}
    )
    assert replaced.status_code == 200 and replaced.get_json()["name"] == "DOCKER_PASSWORD"
    listed = client.get(_secrets_path(repo), headers=headers).get_json()
    assert [(s["name"], s["substitute"]) for s in listed] == [("DOCKER_PASSWORD", False)]
    assert (
        client.delete(_secrets_path(repo) + "/Docker_Password", headers=headers).status_code == 200
    )
    assert client.get(_secrets_path(repo), headers=headers).get_json() == []


def test_substitute_must_be_a_boolean(client, repo, tokens):
    resp = client.post(
        _secrets_path(repo),
        headers=auth(tokens["owner"]),
        json={"name": "X", "value": "v", "substitute": "yes"},
    )
    assert resp.status_code == 400 and "substitute" in resp.get_json()["error"]


def test_the_compile_is_told_substitutable_names_of_the_build_never_of_a_pull_request(stores, repo):
    stores.secrets.set(repo.id, "A", "a", substitute=True)
    stores.secrets.set(repo.id, "B", "b")  # not marked
    stores.secrets.set(repo.id, "C", "c", substitute=True, events=["tag"])
    stores.secrets.set(repo.id, "D", "d", substitute=True, environment="production")
    stores.secrets.set(
        repo.id, "E", "e", substitute=True, events=["pull_request"], allow_pull_request=True
    )
    assert stores.secrets.substitutable(repo.id, "push") == ["A"]
    assert stores.secrets.substitutable(repo.id, "tag") == ["A", "C"]
    assert stores.secrets.substitutable(repo.id, "push", "production") == ["A", "D"]
    assert stores.secrets.substitutable(repo.id, "pull_request") == []


def _build(stores, repo, event: str) -> Build:
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        steps=[
            StepSpec(
                name="publish",
                image="runner-test/busybox",
                secrets=[
                    SecretRef(env="TOKEN", name="Token"),
                    SecretRef(
                        env="AUTH",
                        name="token",
                        parts=["bearer-", "TOKEN", "/", "REGISTRY", "-end"],
                    ),
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


def test_a_claim_resolves_names_in_any_case_and_only_what_the_step_may_see(
    client, stores, repo, tokens
):
    stores.secrets.set(repo.id, "token", "tok-value", substitute=True)
    stores.secrets.set(repo.id, "registry", "reg-pass", images=["plugins/docker"])
    _build(stores, repo, "push")
    resp = client.post("/rpc/v1/claim", headers=auth(tokens["agent"]), json={"timeout": 0})
    claimed = resp.get_json()
    refs = claimed["spec"]["steps"][0]["secrets"]
    assert refs == [
        {"env": "TOKEN", "name": "0/Token", "path": [], "parts": []},
        # the registry secret is for plugins/docker only: its share of the text is empty
        {"env": "AUTH", "name": "0/TOKEN", "path": [], "parts": ["bearer-", "0/TOKEN", "/-end"]},
    ]
    assert claimed["secrets"] == {"0/Token": "tok-value", "0/TOKEN": "tok-value"}
