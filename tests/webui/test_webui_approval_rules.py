"""The approval rules on the pages: the environment form sets how many people approve,
four-eyes and the rollback exemption (refusing a bad number), and the build page's Approve
button obeys the same rule as the API, with the same four-eyes message; the page says how many
approvals are still needed; a promote or rollback from the page whose pipeline has no step for
the environment is refused (422) with the reason, as the API refuses it."""

from __future__ import annotations

from runner.testing import LocalRepo
from tests.webui.conftest import csrf_of


def _api_headers(stores, login: str) -> dict[str, str]:
    user = stores.users.find(login)
    _token, plain = stores.tokens.create("test", user_id=user.id)
    return {"Authorization": f"Bearer {plain}"}


def test_the_environment_form_sets_the_approval_rules_and_refuses_a_bad_number(
    client_as, stores, seeded
):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings/environments").get_data(as_text=True)
    form = {
        "csrf_token": csrf_of(page),
        "name": "release",
        "approval_required": "1",
        "approvals_required": "2",
        "four_eyes": "1",
        "rollback_exempt": "1",
    }
    assert client.post("/repos/acme/web/settings/environments", data=form).status_code == 302
    env = stores.environments.find(seeded.repo.id, "release")
    assert (env.approvals_required, env.four_eyes, env.rollback_exempt) == (2, True, True)
    listed = client.get("/repos/acme/web/settings/environments").get_data(as_text=True)
    assert "required (2 approvers, four-eyes, rollbacks exempt)" in listed

    bad = client.post(
        "/repos/acme/web/settings/environments",
        data={**form, "name": "other", "approvals_required": "11"},
    )
    assert bad.status_code == 400
    assert "Enter a whole number between 1 and 10." in bad.get_data(as_text=True)
    assert stores.environments.find(seeded.repo.id, "other") is None


def test_the_approve_button_refuses_the_sender_under_four_eyes_as_the_api_does(
    app, client_as, stores, seeded
):
    env = stores.environments.find(seeded.repo.id, "production")
    stores.environments.update(env.id, four_eyes=True)
    number = seeded.blocked.number
    stores.builds.update(seeded.blocked.id, sender="writer", target="production")
    expected = f"four-eyes: writer pushed build #{number} and cannot approve it"

    writer = client_as("writer")
    page = writer.get(f"/repos/acme/web/{number}").get_data(as_text=True)
    refused = writer.post(f"/repos/acme/web/{number}/approve", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert expected in refused.get_data(as_text=True)
    api = app.test_client().post(
        f"/api/v1/repos/acme/web/builds/{number}/approve", headers=_api_headers(stores, "writer")
    )
    assert api.status_code == 403 and api.get_json()["error"].startswith(expected)
    assert stores.builds.get(seeded.blocked.id).status == "blocked"
    assert stores.approvals.of_build(seeded.blocked.id) == []

    admin = client_as("admin")
    page = admin.get(f"/repos/acme/web/{number}").get_data(as_text=True)
    approved = admin.post(f"/repos/acme/web/{number}/approve", data={"csrf_token": csrf_of(page)})
    assert approved.status_code == 302
    assert stores.builds.get(seeded.blocked.id).status == "pending"
    assert [(a.login, a.decision) for a in stores.approvals.of_build(seeded.blocked.id)] == [
        ("admin", "approved")
    ]


def test_the_build_page_says_how_many_approvals_are_still_needed(app, client_as, stores, seeded):
    env = stores.environments.find(seeded.repo.id, "production")
    stores.environments.update(env.id, approvals_required=2)
    number = seeded.blocked.number
    headers = _api_headers(stores, "writer")
    api = app.test_client().post(f"/api/v1/repos/acme/web/builds/{number}/approve", headers=headers)
    assert api.status_code == 200 and api.get_json()["status"] == "blocked"
    state = client_as("reader").get(f"/repos/acme/web/{number}/state.json").get_json()
    assert "waiting for 1 more approval (2 required)" in str(state)


def test_a_promote_from_the_page_with_nothing_to_deploy_shows_the_reason_and_makes_no_build(
    app, client_as, stores, seeded, tmp_path
):
    origin = LocalRepo(tmp_path / "git")
    origin.commit({".drone.yml": "kind: pipeline\nname: ci\nsteps:\n- name: test\n"
                   "  image: runner-test/busybox\n  commands: [true]\n"})  # fmt: skip
    repo = stores.repos.create("acme/ship", clone_url=origin.clone_url)
    stores.users.grant(stores.users.find("writer").id, repo.id, "write")
    stores.environments.create(repo.id, "production", events=["promote", "rollback"])
    headers = _api_headers(stores, "writer")
    made = app.test_client().post("/api/v1/repos/acme/ship/builds", json={}, headers=headers)
    assert made.status_code == 201, made.get_json()
    number = made.get_json()["number"]
    stores.builds.update(made.get_json()["id"], status="success")

    writer = client_as("writer")
    page = writer.get(f"/repos/acme/ship/{number}").get_data(as_text=True)
    refused = writer.post(
        f"/repos/acme/ship/{number}/promote",
        data={"csrf_token": csrf_of(page), "target": "production", "event": "rollback"},
    )
    assert refused.status_code == 422
    assert (
        f"build #{number} (commit {made.get_json()['commit'][:7]}) has no step for environment "
        "production: its pipeline would deploy nothing"
    ) in refused.get_data(as_text=True)
    assert stores.builds.count(repo.id) == 1
