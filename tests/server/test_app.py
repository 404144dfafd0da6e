"""The application factory: the admin is created once with a printed or configured password,
the embedded agent gets a fresh token each start, and every error under /api and /rpc is JSON
with a message and no stack trace."""

from __future__ import annotations

from runner.server.app import create_app
from runner.settings import load_settings
from runner.store.users import UserStore
from tests.server.conftest import ADMIN_PASSWORD, auth


def test_admin_created_once_with_the_configured_password(app, stores):
    admin = stores.users.find("admin")
    assert admin is not None and admin.is_admin
    assert stores.users.authenticate("admin", ADMIN_PASSWORD) is not None
    assert stores.users.count() == 1


def test_generated_admin_password_is_printed_once(tmp_path, capsys):
    settings = load_settings({"data_dir": str(tmp_path), "embedded_agent": False}, environ={})
    first = create_app(settings, start_background=False)
    printed = capsys.readouterr().err
    assert "created user 'admin' with password " in printed
    password = printed.split("with password ", 1)[1].split()[0]
    assert first.extensions["runner"].stores.users.authenticate("admin", password) is not None
    first.extensions["runner"].db.dispose()
    again = create_app(settings, start_background=False)
    assert "password" not in capsys.readouterr().err
    again.extensions["runner"].db.dispose()


def test_a_server_that_loses_the_race_to_make_the_admin_starts_all_the_same(
    tmp_path, monkeypatch, capsys
):
    # Two servers started at once on one database both find no user; the second one's insert
    # then meets the first one's admin.
    settings = load_settings({"data_dir": str(tmp_path), "embedded_agent": False}, environ={})
    first = create_app(settings, start_background=False)
    password = capsys.readouterr().err.split("with password ", 1)[1].split()[0]
    first.extensions["runner"].db.dispose()
    monkeypatch.setattr(UserStore, "count", lambda self: 0)
    second = create_app(settings, start_background=False)
    assert "password" not in capsys.readouterr().err
    users = second.extensions["runner"].stores.users
    assert users.authenticate("admin", password) is not None
    second.extensions["runner"].db.dispose()


def test_embedded_agent_token_is_replaced_on_each_start(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path), "admin_password": "x" * 12}, environ={})
    first = create_app(settings, start_background=False)
    old = first.extensions["runner"].agent_token
    first.extensions["runner"].db.dispose()
    second = create_app(settings, start_background=False)
    client = second.test_client()
    new = second.extensions["runner"].agent_token
    assert old and new and old != new
    assert client.post("/rpc/v1/claim", headers=auth(old), json={"timeout": 0}).status_code == 401
    assert client.post("/rpc/v1/claim", headers=auth(new), json={"timeout": 0}).status_code == 204
    second.extensions["runner"].db.dispose()


def test_errors_are_json_without_traces(app, client, tokens):
    def boom():
        raise ValueError("secret internals")

    app.add_url_rule("/api/v1/boom", "boom", boom)
    headers = auth(tokens["admin"])
    for method, path, status in [
        ("GET", "/api/v1/boom", 500),
        ("GET", "/api/v1/nothing-here", 404),
        ("DELETE", "/api/v1/user", 405),
        ("GET", "/rpc/v1/claim", 405),
        ("POST", "/api/v1/repos", 400),
    ]:
        resp = client.open(
            path, method=method, headers=headers, data=b"{not json", content_type="application/json"
        )
        assert resp.status_code == status, (path, resp.get_data(as_text=True))
        body = resp.get_json()
        assert body["error"]
        assert "Traceback" not in resp.get_data(as_text=True)
        assert "secret internals" not in resp.get_data(as_text=True)
