"""The Events pages: a repository's log (linked from its tabs, readable with the read role) and
the server's (admin nav, server admins only) list what the pages' own actions did — a cancel,
an approval, a secret added — with time, actor, kind and message; entries about secrets are
shown to the repository's admins only, a reader's page filled with what they may see; the GET
form filters by kind (exact or ``build.`` prefix) and actor; a bad filter is a 400 with the
reason; a private repository's log is not found for who cannot read it; a message is text,
never markup."""

from __future__ import annotations

import re

from tests.webui.conftest import csrf_of

PAGE = "/repos/acme/web/events"


def _rows(html: str) -> list[tuple[str, str, str]]:
    """``(actor, kind, message)`` of each row of the events table, top first."""
    rows = re.findall(
        r'<td class="actor mono">(.*?)</td>\s*<td class="kind mono">(.*?)</td>.*?'
        r'<td class="message">(.*?)</td>',
        html,
        re.S,
    )
    return [(a, k, m) for a, k, m in rows]


def _post(client, page: str, url: str, **form: str):
    html = client.get(page).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_of(html), **form})


def _act_on_the_pages(client_as, seeded) -> None:
    writer = client_as("writer")
    build = f"/repos/acme/web/{seeded.running.number}"
    assert _post(writer, build, build + "/cancel").status_code == 302
    admin = client_as("admin")
    blocked = f"/repos/acme/web/{seeded.blocked.number}"
    assert _post(admin, blocked, blocked + "/approve").status_code == 302
    secrets = "/repos/acme/web/settings/secrets"
    res = _post(admin, secrets, secrets, name="deploy_key", value="v4lue-not-shown")
    assert res.status_code in (200, 302)


def test_the_repository_log_lists_what_the_pages_did_with_who_and_filters(client_as, seeded):
    _act_on_the_pages(client_as, seeded)
    reader = client_as("reader")
    html = reader.get(PAGE).get_data(as_text=True)
    assert _rows(html)[:2] == [
        ("admin", "build.approved", f"build #{seeded.blocked.number} approved"),
        ("writer", "build.cancelled", f"build #{seeded.running.number} cancelled"),
    ]
    assert "v4lue-not-shown" not in html
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"', html)
    tabs = reader.get("/repos/acme/web").get_data(as_text=True)
    assert f'href="{PAGE}"' in tabs and ">Events</a>" in tabs

    by_kind = _rows(reader.get(PAGE + "?kind=build.").get_data(as_text=True))
    assert [k for _, k, _ in by_kind] == ["build.approved", "build.cancelled"]
    exact = _rows(reader.get(PAGE + "?kind=build.cancelled").get_data(as_text=True))
    assert [k for _, k, _ in exact] == ["build.cancelled"]
    by_writer = _rows(reader.get(PAGE + "?actor=writer").get_data(as_text=True))
    assert [(a, k) for a, k, _ in by_writer] == [("writer", "build.cancelled")]
    none = reader.get(PAGE + "?actor=nobody").get_data(as_text=True)
    assert "No events match these filters." in none


def test_secret_entries_are_shown_to_the_repositorys_admins_only(client_as, seeded, stores):
    _act_on_the_pages(client_as, seeded)
    for n in range(60):  # more than a page of entries a reader may not see
        message = f"secret s{n} added"
        stores.audit.record("secret.set", "repo:acme/web", message, "admin", repo_id=seeded.repo.id)
    for user in ("reader", "writer"):
        html = client_as(user).get(PAGE).get_data(as_text=True)
        assert [k for _, k, _ in _rows(html)] == ["build.approved", "build.cancelled"]
        assert "deploy_key" not in html and ">Older</a>" not in html
        assert 'id="admins-only"' in html
        hidden = client_as(user).get(PAGE + "?kind=secret.").get_data(as_text=True)
        assert "No events match these filters." in hidden
    html = client_as("admin").get(PAGE).get_data(as_text=True)
    assert _rows(html)[0] == ("admin", "secret.set", "secret s59 added")
    assert ">Older</a>" in html and 'id="admins-only"' not in html
    older = client_as("admin").get(PAGE + "?before=" + re.findall(r'data-id="(\d+)"', html)[-1])
    assert ("admin", "secret.set", "secret deploy_key added") in _rows(older.get_data(as_text=True))


def test_a_bad_filter_is_a_400_with_the_reason_on_the_page(client_as, seeded):
    res = client_as("reader").get(PAGE + "?kind=%3Cscript%3E")
    assert res.status_code == 400
    html = res.get_data(as_text=True)
    assert 'role="alert"' in html and "kind is a dotted word" in html
    assert "<script>" not in html  # the value given is shown escaped
    assert "&lt;script&gt;" in html


def test_who_cannot_read_a_private_repository_gets_no_log_of_it(client_as, seeded):
    assert client_as("reader").get("/repos/acme/secret/events").status_code == 404
    assert client_as("admin").get("/repos/acme/secret/events").status_code == 200


def test_the_server_log_is_for_admins_and_holds_every_entry(client_as, seeded, stores):
    _act_on_the_pages(client_as, seeded)
    stores.audit.record("user.created", "user:x", "user <b>x</b> created (user)", "admin")
    assert client_as("writer").get("/admin/events").status_code == 403
    admin = client_as("admin")
    html = admin.get("/admin/events").get_data(as_text=True)
    assert 'href="/admin/events"' in admin.get("/").get_data(as_text=True)
    assert "user &lt;b&gt;x&lt;/b&gt; created (user)" in html  # text, not markup
    repos = re.findall(r'<td class="repo mono">(.*?)</td>', html)
    assert repos[0] == "" and "acme/web" in repos
    kinds = [k for _, k, _ in _rows(admin.get("/admin/events?kind=user.").get_data(as_text=True))]
    assert kinds == ["user.created"]
