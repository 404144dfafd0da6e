"""Server-rendered pages: login, CSRF on every form, role-gated buttons, escaping, forms, badge."""

from __future__ import annotations

import re

from webui_seed import XSS_BRANCH, XSS_LINE, XSS_MESSAGE

from tests.webui.conftest import csrf_of, login


def test_pages_need_a_login(app, seeded):
    client = app.test_client()
    res = client.get("/repos/acme/web")
    assert res.status_code == 302 and "/login?next=/repos/acme/web" in res.headers["Location"]


def test_wrong_password_is_refused_with_a_message(app, seeded):
    client = app.test_client()
    res = login(client, "reader", "nope")
    assert res.status_code == 401
    assert "Unknown login or wrong password." in res.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(app, seeded):
    client = app.test_client()
    res = client.post("/login", data={"login": "admin", "password": "x"})
    assert res.status_code == 400
    assert "security token" in res.get_data(as_text=True)


def test_every_form_carries_the_csrf_token(client_as, seeded):
    client = client_as("admin")
    pages = [
        "/",
        "/repos/acme/web",
        f"/repos/acme/web/{seeded.running.number}",
        f"/repos/acme/web/{seeded.blocked.number}",
        f"/repos/acme/web/{seeded.done.number}",
        "/repos/acme/web/settings",
        "/repos/acme/web/settings/secrets",
        "/repos/acme/web/settings/environments",
        "/repos/acme/web/settings/cron",
        "/repos/acme/web/settings/roles",
        "/admin/agents",
        "/admin/users",
    ]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
        assert forms, path
        for form in forms:
            assert 'name="csrf_token"' in form, path


def test_actions_refuse_a_wrong_csrf_token(client_as, seeded, stores):
    client = client_as("writer")
    res = client.post(f"/repos/acme/web/{seeded.running.number}/cancel", data={"csrf_token": "x"})
    assert res.status_code == 400
    assert stores.builds.get(seeded.running.id).status == "running"


def test_reader_sees_no_buttons_and_cannot_cancel(client_as, seeded, stores):
    client = client_as("reader")
    html = client.get(f"/repos/acme/web/{seeded.running.number}").get_data(as_text=True)
    assert "btn-cancel" not in html and "btn-restart" not in html
    token = csrf_of(html) if "csrf_token" in html else ""
    res = client.post(f"/repos/acme/web/{seeded.running.number}/cancel", data={"csrf_token": token})
    assert res.status_code == 403
    assert stores.builds.get(seeded.running.id).status == "running"


def test_writer_sees_the_buttons_that_fit_the_build(client_as, seeded):
    client = client_as("writer")
    running = client.get(f"/repos/acme/web/{seeded.running.number}").get_data(as_text=True)
    assert "btn-cancel" in running and "btn-restart" not in running
    done = client.get(f"/repos/acme/web/{seeded.done.number}").get_data(as_text=True)
    assert "btn-restart" in done and "btn-cancel" not in done and "btn-promote" in done
    blocked = client.get(f"/repos/acme/web/{seeded.blocked.number}").get_data(as_text=True)
    assert "btn-approve" in blocked and "btn-decline" in blocked


def test_approve_from_the_page_releases_the_build(client_as, seeded, stores):
    client = client_as("writer")
    page = client.get(f"/repos/acme/web/{seeded.blocked.number}").get_data(as_text=True)
    res = client.post(
        f"/repos/acme/web/{seeded.blocked.number}/approve", data={"csrf_token": csrf_of(page)}
    )
    assert res.status_code == 302
    assert stores.builds.get(seeded.blocked.id).status == "pending"


def test_waiting_stage_says_which_agent_it_needs(client_as, seeded):
    client = client_as("reader")
    html = client.get(f"/repos/acme/web/{seeded.waiting.number}").get_data(as_text=True)
    assert "no agent with env=production" in html


def test_html_in_commit_branch_and_log_is_escaped(client_as, seeded):
    client = client_as("reader")
    for path in ("/", "/repos/acme/web", f"/repos/acme/web/{seeded.xss.number}"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>window.__xss" not in html, path
        assert "<svg onload" not in html and "<b>bold</b>" not in html, path
    rows = client.get("/repos/acme/web/builds.json").get_json()["html"]
    assert "<script>window.__xss" not in rows and "&lt;script&gt;" in rows
    tail = client.get(
        f"/repos/acme/web/{seeded.xss.number}/logs/{seeded.xss.stages[0].steps[0].id}/tail.json"
    ).get_json()
    assert tail["lines"][0] == XSS_LINE  # text, rendered by the page through textContent
    assert XSS_MESSAGE and XSS_BRANCH


def test_repository_list_shows_last_status_per_branch(client_as, seeded):
    html = client_as("reader").get("/").get_data(as_text=True)
    assert "acme/web" in html and "acme/secret" not in html
    assert 'data-status="running"' in html and ">dev<" in html
    assert "/badge/acme/web/status.svg" in html


def test_build_list_filters_and_pages(client_as, seeded):
    client = client_as("reader")
    html = client.get("/repos/acme/web?branch=dev").get_data(as_text=True)
    assert f'data-number="{seeded.running.number}"' in html
    assert f'data-number="{seeded.done.number}"' not in html
    html = client.get("/repos/acme/web?status=blocked").get_data(as_text=True)
    assert re.findall(r'data-number="(\d+)"', html) == [str(seeded.blocked.number)]
    assert "No builds match." in client.get("/repos/acme/web?event=tag").get_data(as_text=True)


def test_badge_is_an_svg_of_the_branch_status(app, seeded):
    client = app.test_client()
    res = client.get("/badge/acme/web/status.svg?branch=dev")
    assert res.mimetype == "image/svg+xml" and ">running<" in res.get_data(as_text=True)
    assert ">unknown<" in client.get("/badge/acme/secret/status.svg").get_data(as_text=True)
    evil = client.get("/badge/acme/web/status.svg?branch=" + XSS_BRANCH).get_data(as_text=True)
    assert "<svg onload" not in evil.split(">", 1)[1]


def test_log_tail_and_raw_download(client_as, seeded):
    client = client_as("reader")
    step = seeded.done.stages[0].steps[1]
    tail = client.get(f"/repos/acme/web/{seeded.done.number}/logs/{step.id}/tail.json").get_json()
    assert tail["first_line"] == 1 and tail["total_lines"] == 39 and tail["done"]
    assert tail["lines"][1] == "plain line" and tail["last_seq"] == 1
    raw = client.get(f"/repos/acme/web/{seeded.done.number}/logs/{step.id}/raw")
    assert raw.get_data(as_text=True).splitlines()[-1] == "line 39"
    assert "attachment" in raw.headers["Content-Disposition"]


def test_settings_forms_reject_bad_values_next_to_the_field(client_as, seeded, stores):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings").get_data(as_text=True)
    res = client.post(
        "/repos/acme/web/settings",
        data={
            "csrf_token": csrf_of(page),
            "timeout": "abc",
            "pipeline_path": "../etc/passwd",
            "default_branch": "main",
        },
    )
    html = res.get_data(as_text=True)
    assert res.status_code == 400
    assert 'id="e-timeout"' in html and "whole number" in html
    assert 'id="e-pipeline_path"' in html
    res = client.post(
        "/repos/acme/web/settings/cron",
        data={"csrf_token": csrf_of(page), "name": "nightly", "schedule": "every night"},
    )
    assert res.status_code == 400 and 'id="e-schedule"' in res.get_data(as_text=True)
    assert stores.crons.matching(seeded.repo.id) == []


def test_repository_admin_turns_fork_privileged_on_and_off(client_as, seeded, stores):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings").get_data(as_text=True)
    assert 'name="fork_privileged"' in page
    form = {"csrf_token": csrf_of(page), "timeout": "3600", "default_branch": "main"}
    res = client.post("/repos/acme/web/settings", data={**form, "fork_privileged": "on"})
    assert res.status_code == 302 and stores.repos.get(seeded.repo.id).fork_privileged
    client.post("/repos/acme/web/settings", data=form)
    assert not stores.repos.get(seeded.repo.id).fork_privileged


def test_repository_admin_sets_how_long_logs_are_kept(client_as, seeded, stores):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings").get_data(as_text=True)
    assert 'name="log_retention_days"' in page and "keep all" in page
    form = {"csrf_token": csrf_of(page), "timeout": "3600", "default_branch": "main"}
    res = client.post("/repos/acme/web/settings", data={**form, "log_retention_days": "30"})
    assert res.status_code == 302 and stores.repos.get(seeded.repo.id).log_retention_days == 30
    res = client.post("/repos/acme/web/settings", data={**form, "log_retention_days": "-3"})
    assert res.status_code == 400 and 'id="e-log_retention_days"' in res.get_data(as_text=True)
    assert stores.repos.get(seeded.repo.id).log_retention_days == 30


def test_secret_values_are_write_only(client_as, seeded, stores):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings/secrets").get_data(as_text=True)
    res = client.post(
        "/repos/acme/web/settings/secrets",
        data={
            "csrf_token": csrf_of(page),
            "name": "DEPLOY_KEY",
            "value": "hunter2-value",
            "events": ["push"],
        },
    )
    assert res.status_code == 302
    html = client.get("/repos/acme/web/settings/secrets").get_data(as_text=True)
    assert "DEPLOY_KEY" in html and "hunter2-value" not in html


def test_settings_need_the_admin_role(client_as, seeded):
    assert client_as("writer").get("/repos/acme/web/settings").status_code == 403
    assert client_as("writer").get("/admin/agents").status_code == 403
    assert client_as("reader").get("/repos/acme/secret").status_code == 404


def test_duplicate_environment_is_refused_next_to_the_name(client_as, seeded):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings/environments").get_data(as_text=True)
    res = client.post(
        "/repos/acme/web/settings/environments",
        data={"csrf_token": csrf_of(page), "name": "production", "labels": "env=prod"},
    )
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and "There is already an environment production." in html
    res = client.post(
        "/repos/acme/web/settings/environments",
        data={"csrf_token": csrf_of(page), "name": "staging", "labels": "nolabel"},
    )
    assert res.status_code == 400 and 'id="e-labels"' in res.get_data(as_text=True)


def test_admin_creates_a_token_shown_once(client_as, seeded, stores):
    client = client_as("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    reader = stores.users.find("reader")
    res = client.post(
        f"/admin/users/{reader.id}/tokens", data={"csrf_token": csrf_of(page), "name": "ci-bot"}
    )
    plain = re.search(r'id="new-token" readonly value="([^"]+)"', res.get_data(as_text=True))
    assert plain and stores.tokens.verify(plain.group(1)).user_id == reader.id
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "ci-bot" in listing and plain.group(1) not in listing


def test_pages_forbid_inline_scripts_and_framing(client_as, seeded):
    res = client_as("reader").get(f"/repos/acme/web/{seeded.xss.number}")
    csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in res.get_data(as_text=True).split("<script src=")[0]


def test_login_returns_only_to_local_pages(app, seeded):
    client = app.test_client()
    page = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    res = client.post(
        "/login",
        data={
            "login": "reader",
            "password": "correct-horse-1",
            "csrf_token": csrf_of(page),
            "next": "https://evil.example/",
        },
    )
    assert res.status_code == 302 and res.headers["Location"] == "/"
    res = client.get("/login?next=/repos/acme/web")
    assert res.status_code == 302 and res.headers["Location"] == "/repos/acme/web"


def test_deactivated_repositories_leave_the_list(client_as, seeded, stores):
    stores.repos.update(seeded.repo.id, active=False)
    assert "acme/web" not in client_as("admin").get("/").get_data(as_text=True)


def test_a_step_that_is_no_whole_number_gets_400_not_a_server_error(client_as, seeded):
    client = client_as("reader")
    base = f"/repos/acme/web/{seeded.done.number}"
    for step in ("²", "9" * 5000, "-1", "1.5", "abc"):
        res = client.get(base, query_string={"step": step})
        text = res.get_data(as_text=True)
        assert res.status_code == 400, (step[:20], res.status_code)
        assert "step must be" in text and "Traceback" not in text
    chosen = seeded.done.stages[0].steps[1]
    assert client.get(base, query_string={"step": str(chosen.id)}).status_code == 200
    assert client.get(base, query_string={"step": str(2**31 - 1)}).status_code == 404
    assert client.get(base).status_code == 200
