"""The roles page of a repository lists its users with their roles and gives or takes a role
through the same actions as the API's ``/perms`` (audited alike, seen alike by the API); an
unknown user or role is refused next to its field with 400; a repository admin who is no server
admin may use it, a writer or reader may not."""

from __future__ import annotations

import re

from webui_seed import PASSWORD

from tests.webui.conftest import csrf_of

PAGE = "/repos/acme/web/settings/roles"


def _rows(html: str) -> dict[str, str]:
    """The table of the page as ``{login: role}``."""
    found = re.findall(
        r'<tr data-login="([^"]+)"><td class="mono">[^<]*</td><td class="role">([^<]*)</td>', html
    )
    return dict(found)


def _set(client, login: str, role: str):
    page = client.get(PAGE).get_data(as_text=True)
    return client.post(PAGE, data={"csrf_token": csrf_of(page), "login": login, "role": role})


def _remove(client, login: str):
    page = client.get(PAGE).get_data(as_text=True)
    return client.post(PAGE + "/remove", data={"csrf_token": csrf_of(page), "login": login})


def _api_perms(app, stores) -> dict[str, str]:
    admin = stores.users.find("admin")
    _token, plain = stores.tokens.create("test", user_id=admin.id)
    res = app.test_client().get(
        "/api/v1/repos/acme/web/perms", headers={"Authorization": f"Bearer {plain}"}
    )
    assert res.status_code == 200
    return {m["login"]: m["role"] for m in res.get_json()}


def _role_entries(stores) -> list[tuple[str, str]]:
    entries = stores.audit.matching(subject="repo:acme/web", kind="repo.role")
    return [(e.message, e.actor) for e in reversed(entries)]


def test_the_page_lists_the_roles_and_the_repository_tabs_link_it(client_as, seeded):
    html = client_as("admin").get(PAGE).get_data(as_text=True)
    assert _rows(html) == {"reader": "read", "writer": "write"}
    settings = client_as("admin").get("/repos/acme/web/settings").get_data(as_text=True)
    assert f'href="{PAGE}"' in settings and ">Roles</a>" in settings


def test_a_role_set_and_removed_on_the_page_is_the_apis_and_audited(app, client_as, seeded, stores):
    client = client_as("admin")
    res = _set(client, "reader", "admin")
    assert res.status_code == 302
    page = client.get(PAGE).get_data(as_text=True)
    assert "reader is admin on acme/web." in page
    assert _rows(page) == {"reader": "admin", "writer": "write"}
    assert _api_perms(app, stores) == {"reader": "admin", "writer": "write"}

    assert _remove(client, "writer").status_code == 302
    page = client.get(PAGE).get_data(as_text=True)
    assert "writer has no role on acme/web." in page
    assert _rows(page) == {"reader": "admin"}
    assert _api_perms(app, stores) == {"reader": "admin"}
    assert _role_entries(stores) == [("reader is admin", "admin"), ("writer has no role", "admin")]


def test_an_unknown_user_or_role_is_refused_next_to_the_field(client_as, seeded, stores):
    client = client_as("admin")
    res = _set(client, "ghost", "write")
    assert res.status_code == 400
    html = res.get_data(as_text=True)
    assert re.search(r'id="e-login" role="alert">There is no user ghost\.<', html)
    assert 'value="ghost"' in html  # the form comes back as it was sent
    res = _set(client, "reader", "owner")
    assert res.status_code == 400
    assert re.search(r'id="e-role" role="alert">Pick one of read, write, admin\.<', res.text)
    res = _set(client, "", "read")
    assert res.status_code == 400 and "Enter the user&#39;s login." in res.text
    assert _rows(client.get(PAGE).get_data(as_text=True)) == {"reader": "read", "writer": "write"}
    assert _role_entries(stores) == []


def test_a_repository_admin_manages_roles_without_being_a_server_admin(client_as, seeded, stores):
    owner = stores.users.create("owner", password=PASSWORD)
    stores.users.grant(owner.id, seeded.repo.id, "admin")
    client = client_as("owner")
    assert _set(client, "writer", "read").status_code == 302
    assert _rows(client.get(PAGE).get_data(as_text=True))["writer"] == "read"
    assert _role_entries(stores) == [("writer is read", "owner")]


def test_writers_and_readers_cannot_see_or_change_roles(client_as, seeded, stores):
    for login in ("writer", "reader"):
        client = client_as(login)
        assert client.get(PAGE).status_code == 403
        # A token from a page the user may see, so the refusal is the role's, not the CSRF's.
        token = csrf_of(client.get("/repos/acme/web").get_data(as_text=True))
        res = client.post(PAGE, data={"csrf_token": token, "login": login, "role": "admin"})
        assert res.status_code == 403
        res = client.post(PAGE + "/remove", data={"csrf_token": token, "login": "writer"})
        assert res.status_code == 403
    assert client_as("admin").get("/repos/acme/web/settings").status_code == 200
    assert _rows(client_as("admin").get(PAGE).get_data(as_text=True)) == {
        "reader": "read",
        "writer": "write",
    }
    assert _role_entries(stores) == []
