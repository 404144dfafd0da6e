"""The action forms of the pages, through the test client over a real store: the New build form
checks its ref and its NAME=value parameters (400 with the message next to the field, the
API's rule), re-running the failed stages is offered to writers of a finished failed build only,
cancel/deploy/delete/revoke forms ask before they post (``data-confirm``), secrets (value
write-only: empty keeps it), environments and cron jobs are edited in place, cron jobs are
switched on and off, and every user manages their own API tokens. Read users get no buttons and
403; a form without its CSRF token is refused. Builds from these forms with a real agent are
in test_webui_actions_browser.py."""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import csrf_of


def _post(client, page_path: str, action: str, data: dict):
    """POST ``data`` to ``action`` with the CSRF token of the form page ``page_path``."""
    page = client.get(page_path).get_data(as_text=True)
    return client.post(action, data={"csrf_token": csrf_of(page), **data})


def _api(app, stores, login: str):
    user = stores.users.find(login)
    _token, plain = stores.tokens.create("test", user_id=user.id)
    return app.test_client(), {"Authorization": f"Bearer {plain}"}


# New build ---------------------------------------------------------------------------------


def test_writers_get_the_new_build_button_and_readers_neither_button_nor_form(client_as, seeded):
    writer, reader = client_as("writer"), client_as("reader")
    assert 'id="new-build-link"' in writer.get("/repos/acme/web").get_data(as_text=True)
    form = writer.get("/repos/acme/web/new")
    assert form.status_code == 200 and 'name="params"' in form.get_data(as_text=True)

    assert 'id="new-build-link"' not in reader.get("/repos/acme/web").get_data(as_text=True)
    assert reader.get("/repos/acme/web/new").status_code == 403
    assert _post(writer, "/repos/acme/web", "/repos/acme/web/new", {}).status_code != 403
    res = _post(reader, "/repos/acme/web", "/repos/acme/web/new", {"branch": "main"})
    assert res.status_code == 403


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ("1ABC=x", "Line 1: parameter '1ABC' is not an environment variable name"),
        ("OK=1\nNO EQUALS SIGN", "Line 2: write NAME=value"),
        ("A-B=1", "is not an environment variable name"),
        ("A=1\nA=2", "Line 2: A is given twice"),
        ("BIG=" + "x" * 5000, "has more than 4096 characters"),
        ("\n".join(f"P{i}=v" for i in range(51)), "at most 50 parameters"),
    ],
)
def test_bad_parameters_answer_400_with_the_message_next_to_the_field(
    client_as, seeded, stores, params, says
):
    writer = client_as("writer")
    res = _post(writer, "/repos/acme/web/new", "/repos/acme/web/new", {"params": params})
    html = res.get_data(as_text=True)
    assert res.status_code == 400
    error = re.search(r'<span class="error" id="e-params" role="alert">([^<]*)</span>', html)
    assert error is not None and says.replace("'", "&#39;") in error.group(1)
    assert 'aria-invalid="true"' in html
    assert stores.builds.page_of_repo(seeded.repo.id, page=1, per_page=50)[0].event != "custom"


def test_a_branch_and_a_tag_together_or_a_bad_commit_are_refused_next_to_their_field(
    client_as, seeded
):
    writer = client_as("writer")
    res = _post(
        writer, "/repos/acme/web/new", "/repos/acme/web/new", {"branch": "main", "tag": "v1"}
    )
    assert res.status_code == 400 and 'id="e-tag"' in res.get_data(as_text=True)
    res = _post(writer, "/repos/acme/web/new", "/repos/acme/web/new", {"commit": "not-hex"})
    assert res.status_code == 400 and 'id="e-commit"' in res.get_data(as_text=True)


def test_the_api_refuses_parameters_the_form_refuses(app, seeded, stores):
    client, headers = _api(app, stores, "writer")
    for params, says in [
        ({"1X": "a"}, "not an environment variable name"),
        ({"X": {"nested": 1}}, "must be text, a number or true/false"),
        ({f"P{i}": "v" for i in range(51)}, "at most 50"),
        (["A=1"], "params must be an object"),
        ({"NUL": "a\x00b"}, "holds a NUL character"),
    ]:
        res = client.post("/api/v1/repos/acme/web/builds", json={"params": params}, headers=headers)
        assert res.status_code == 400 and says in res.get_json()["error"], res.get_json()


def test_the_api_refuses_a_branch_and_a_tag_together(app, seeded, stores):
    client, headers = _api(app, stores, "writer")
    res = client.post(
        "/api/v1/repos/acme/web/builds", json={"branch": "main", "tag": "v1"}, headers=headers
    )
    assert res.status_code == 400 and "a branch or a tag, not both" in res.get_json()["error"]


def test_the_new_build_form_refuses_a_post_without_its_csrf_token(client_as, seeded):
    res = client_as("writer").post("/repos/acme/web/new", data={"branch": "main"})
    assert res.status_code == 400 and "security token" in res.get_data(as_text=True)


# Re-run failed stages ---------------------------------------------------------------------


def test_rerun_failed_is_offered_to_writers_of_a_failed_build_only(client_as, seeded):
    writer, reader = client_as("writer"), client_as("reader")
    failed = f"/repos/acme/web/{seeded.xss.number}"
    assert 'id="btn-rerun-failed"' in writer.get(failed).get_data(as_text=True)
    assert 'id="btn-rerun-failed"' not in reader.get(failed).get_data(as_text=True)
    done = f"/repos/acme/web/{seeded.done.number}"
    assert 'id="btn-rerun-failed"' not in writer.get(done).get_data(as_text=True)
    running = f"/repos/acme/web/{seeded.running.number}"
    assert 'id="btn-rerun-failed"' not in writer.get(running).get_data(as_text=True)

    assert _post(reader, failed, failed + "/rerun-failed", {}).status_code == 403
    # A build with nothing failed is refused with the reason, through the page and the API.
    res = _post(writer, done, done + "/rerun-failed", {})
    assert res.status_code == 409 and "no failed stage" in res.get_data(as_text=True)


def test_the_api_refuses_to_rerun_a_running_or_successful_build(app, seeded, stores):
    client, headers = _api(app, stores, "writer")
    base = "/api/v1/repos/acme/web/builds"
    res = client.post(f"{base}/{seeded.running.number}/rerun-failed", headers=headers)
    assert res.status_code == 409 and "still running" in res.get_json()["error"]
    res = client.post(f"{base}/{seeded.done.number}/rerun-failed", headers=headers)
    assert res.status_code == 409 and "no failed stage" in res.get_json()["error"]
    reader, reader_headers = _api(app, stores, "reader")
    res = reader.post(f"{base}/{seeded.xss.number}/rerun-failed", headers=reader_headers)
    assert res.status_code == 403


# Confirmations ----------------------------------------------------------------------------


def test_cancel_deploy_delete_and_revoke_forms_ask_before_they_post(client_as, seeded, stores):
    admin = client_as("admin")
    stores.secrets.set(seeded.repo.id, "TOKEN", "v")
    stores.crons.create(seeded.repo.id, "nightly", "0 3 * * *", branch="main")
    stores.users.grant(stores.users.find("reader").id, seeded.repo.id, "read")
    stores.tokens.create("laptop", user_id=stores.users.find("writer").id)

    def asks(path: str, action: str) -> str:
        html = admin.get(path).get_data(as_text=True)
        form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>', html)
        assert form is not None, (path, action)
        question = re.search(r'data-confirm="([^"]+)"', form.group(0))
        assert question is not None, form.group(0)
        return question.group(1)

    assert "Cancel build" in asks(
        f"/repos/acme/web/{seeded.running.number}",
        f"/repos/acme/web/{seeded.running.number}/cancel",
    )
    done = f"/repos/acme/web/{seeded.done.number}"
    assert "Deploy build" in asks(done, done + "/promote")
    blocked = f"/repos/acme/web/{seeded.blocked.number}"
    assert "Decline" in asks(blocked, blocked + "/decline")
    secret = stores.secrets.find(seeded.repo.id, "TOKEN")
    secrets_page = "/repos/acme/web/settings/secrets"
    assert "Delete secret TOKEN" in asks(secrets_page, f"{secrets_page}/{secret.id}/delete")
    env = stores.environments.find(seeded.repo.id, "production")
    envs = "/repos/acme/web/settings/environments"
    assert "production" in asks(envs, f"{envs}/{env.id}/delete")
    (cron,) = stores.crons.matching(seeded.repo.id)
    assert "nightly" in asks(
        "/repos/acme/web/settings/cron", f"/repos/acme/web/settings/cron/{cron.id}/delete"
    )
    assert "Remove the role" in asks(
        "/repos/acme/web/settings/roles", "/repos/acme/web/settings/roles/remove"
    )
    (token,) = stores.tokens.matching(user_id=stores.users.find("writer").id, kind="user")
    assert "Revoke the token laptop" in asks("/admin/users", f"/admin/tokens/{token.id}/revoke")


# Edits ------------------------------------------------------------------------------------


def test_editing_a_secret_without_a_value_keeps_the_stored_value(client_as, seeded, stores):
    stores.secrets.set(seeded.repo.id, "DEPLOY_KEY", "first-value", events=["push"])
    secret = stores.secrets.find(seeded.repo.id, "DEPLOY_KEY")
    path = f"/repos/acme/web/settings/secrets/{secret.id}/edit"
    admin = client_as("admin")
    html = admin.get(path).get_data(as_text=True)
    assert "first-value" not in html  # write-only: never shown
    res = _post(
        admin,
        path,
        path,
        {
            "value": "",
            "events": ["push", "tag"],
            "images": "alpine, busybox",
            "allow_pull_request": "1",
        },
    )
    assert res.status_code == 302
    edited = stores.secrets.find(seeded.repo.id, "DEPLOY_KEY")
    assert edited.events == ["push", "tag"] and edited.images == ["alpine", "busybox"]
    assert edited.allow_pull_request
    assert stores.secrets.values_for(seeded.repo.id, "push")["deploy_key"] == "first-value"

    res = _post(admin, path, path, {"value": "second-value", "events": ["push"]})
    assert res.status_code == 302
    assert stores.secrets.values_for(seeded.repo.id, "push")["deploy_key"] == "second-value"
    assert not stores.secrets.find(seeded.repo.id, "DEPLOY_KEY").allow_pull_request
    changes = [e.message for e in stores.audit.matching(limit=20) if e.kind == "secret.set"]
    assert any("value kept" in m for m in changes) and any("value replaced" in m for m in changes)
    assert not any("first-value" in m or "second-value" in m for m in changes)


def test_a_secret_edit_with_no_event_is_400_and_writers_may_not_edit(client_as, seeded, stores):
    stores.secrets.set(seeded.repo.id, "TOKEN", "v")
    secret = stores.secrets.find(seeded.repo.id, "TOKEN")
    path = f"/repos/acme/web/settings/secrets/{secret.id}/edit"
    res = _post(client_as("admin"), path, path, {"value": ""})
    assert res.status_code == 400 and "Pick at least one event" in res.get_data(as_text=True)
    writer = client_as("writer")
    assert writer.get(path).status_code == 403
    assert _post(writer, "/repos/acme/web", path, {"events": ["push"]}).status_code == 403


def test_the_api_patch_edits_a_secret_and_keeps_the_value_when_none_is_sent(app, seeded, stores):
    stores.secrets.set(seeded.repo.id, "TOKEN", "kept")
    client, headers = _api(app, stores, "admin")
    res = client.patch(
        "/api/v1/repos/acme/web/secrets/TOKEN", json={"events": ["tag"]}, headers=headers
    )
    assert res.status_code == 200 and res.get_json()["events"] == ["tag"]
    assert "value" not in res.get_json()
    assert stores.secrets.values_for(seeded.repo.id, "tag")["token"] == "kept"
    res = client.patch(
        "/api/v1/repos/acme/web/secrets/NOPE", json={"events": ["tag"]}, headers=headers
    )
    assert res.status_code == 404


def test_a_secret_is_given_to_pull_requests_only_by_a_json_true(app, seeded, stores):
    # bool("false") is true: a text where a boolean belongs must be refused, not read as yes.
    stores.secrets.set(seeded.repo.id, "TOKEN", "kept")
    client, headers = _api(app, stores, "admin")
    for wrong in ("false", 0, "no"):
        res = client.patch(
            "/api/v1/repos/acme/web/secrets/TOKEN",
            json={"allow_pull_request": wrong},
            headers=headers,
        )
        assert res.status_code == 400 and "allow_pull_request" in res.get_json()["error"]
    (secret,) = stores.secrets.of_repo(seeded.repo.id)
    assert secret.allow_pull_request is False


def test_an_environment_is_edited_in_place(client_as, seeded, stores):
    env = stores.environments.find(seeded.repo.id, "production")
    path = f"/repos/acme/web/settings/environments/{env.id}/edit"
    admin = client_as("admin")
    html = admin.get(path).get_data(as_text=True)
    assert 'value="main"' in html  # the stored patterns fill the form
    res = _post(
        admin,
        path,
        path,
        {
            "branches": "main, release/*",
            "tags": "v*",
            "events": "push, promote",
            "labels": "env=production",
            "approval_required": "1",
            "approvals_required": "2",
            "lock": "1",
        },
    )
    assert res.status_code == 302
    edited = stores.environments.find(seeded.repo.id, "production")
    assert edited.branches == ["main", "release/*"] and edited.tags == ["v*"]
    assert edited.labels == {"env": "production"} and edited.lock
    assert edited.approval_required and edited.approvals_required == 2

    res = _post(admin, path, path, {"labels": "no-equals-sign", "events": "nonsense"})
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and 'id="e-labels"' in html and 'id="e-events"' in html
    assert stores.environments.find(seeded.repo.id, "production").lock


def test_a_cron_job_is_edited_switched_off_and_on(client_as, seeded, stores):
    cron = stores.crons.create(seeded.repo.id, "nightly", "0 3 * * *", branch="main")
    admin = client_as("admin")
    path = f"/repos/acme/web/settings/cron/{cron.id}/edit"
    res = _post(admin, path, path, {"schedule": "@daily", "branch": "release"})
    assert res.status_code == 302
    (job,) = stores.crons.matching(seeded.repo.id)
    assert job.schedule == "@daily" and job.branch == "release"

    res = _post(admin, path, path, {"schedule": "every night", "branch": "x"})
    assert res.status_code == 400 and 'id="e-schedule"' in res.get_data(as_text=True)

    cron_page = "/repos/acme/web/settings/cron"
    switch = f"{cron_page}/{cron.id}/enabled"
    assert 'aria-label="Disable cron job nightly"' in admin.get(cron_page).get_data(as_text=True)
    assert _post(admin, cron_page, switch, {"enabled": "0"}).status_code == 302
    assert not stores.crons.matching(seeded.repo.id)[0].enabled
    html = admin.get(cron_page).get_data(as_text=True)
    assert 'aria-label="Enable cron job nightly"' in html
    assert _post(admin, cron_page, switch, {"enabled": "1"}).status_code == 302
    assert stores.crons.matching(seeded.repo.id)[0].enabled
    assert _post(admin, cron_page, switch, {"enabled": "maybe"}).status_code == 400
    kinds = [e.kind for e in stores.audit.matching(limit=20)]
    assert kinds.count("cron.changed") == 3

    writer = client_as("writer")
    assert writer.get(path).status_code == 403
    assert _post(writer, "/repos/acme/web", switch, {"enabled": "0"}).status_code == 403


# Personal API tokens ----------------------------------------------------------------------


def test_every_user_makes_lists_and_revokes_their_own_tokens(app, client_as, seeded, stores):
    reader = client_as("reader")
    assert 'href="/account/tokens"' in reader.get("/").get_data(as_text=True)
    res = _post(reader, "/account/tokens", "/account/tokens", {"name": "laptop"})
    html = res.get_data(as_text=True)
    assert res.status_code == 201 and res.headers["Cache-Control"] == "no-store"
    plain = re.search(r'id="new-token" readonly value="([^"]+)"', html).group(1)
    api = app.test_client()
    me = api.get("/api/v1/user", headers={"Authorization": f"Bearer {plain}"})
    assert me.status_code == 200 and me.get_json()["login"] == "reader"

    listing = reader.get("/account/tokens").get_data(as_text=True)
    assert "laptop" in listing and plain not in listing
    (token,) = stores.tokens.matching(user_id=stores.users.find("reader").id, kind="user")
    res = _post(reader, "/account/tokens", f"/account/tokens/{token.id}/revoke", {})
    assert res.status_code == 302
    assert api.get("/api/v1/user", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    assert "revoked" in reader.get("/account/tokens").get_data(as_text=True)
    kinds = [e.kind for e in stores.audit.matching(limit=20)]
    assert "token.created" in kinds and "token.revoked" in kinds


def test_nobody_revokes_or_sees_another_users_token(client_as, seeded, stores):
    writer_token, plain = stores.tokens.create("ci", user_id=stores.users.find("writer").id)
    reader = client_as("reader")
    assert "ci" not in reader.get("/account/tokens").get_data(as_text=True).split("<h2>")[0]
    res = _post(reader, "/account/tokens", f"/account/tokens/{writer_token.id}/revoke", {})
    assert res.status_code == 302
    assert f"You have no token {writer_token.id}" in reader.get("/account/tokens").get_data(
        as_text=True
    )
    assert not stores.tokens.get(writer_token.id).revoked


def test_a_token_needs_a_short_name(client_as, seeded):
    reader = client_as("reader")
    for name, says in [("", "Name the token"), ("x" * 101, "At most 100 characters")]:
        res = _post(reader, "/account/tokens", "/account/tokens", {"name": name})
        html = res.get_data(as_text=True)
        assert res.status_code == 400 and 'id="e-name"' in html and says in html
