"""Accounts against a real `runner server`: logout and a password change end every session
(a copied cookie is refused), wrong passwords are throttled per login and per address (429
with Retry-After), an unknown login costs a password check, the cookie is Secure behind https,
and admin passwords need 12 characters."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
import requests

from runner.store.db import Database
from runner.store.users import UserStore
from runner.testing import ServerProcess

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("accounts"), embedded_agent=False) as srv:
        yield srv


def new_user(server: ServerProcess, password: str = PASSWORD, *, admin: bool = False) -> str:
    login = f"u{uuid.uuid4().hex[:8]}"
    server.cli("user", "add", login, "--password", password, *(["--admin"] if admin else []))
    return login


def login_form(server: ServerProcess, login: str, password: str, session=None):
    """POST the login form as a browser does (CSRF field from the page); the answer and the
    browser session."""
    browser = session or requests.Session()
    page = browser.get(server.url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = browser.post(
        server.url + "/login",
        data={"login": login, "password": password, "csrf_token": csrf},
        allow_redirects=False,
        timeout=30,
    )
    return answer, browser


def whoami(server: ServerProcess, cookies) -> int:
    """The status of ``GET /api/v1/user`` with exactly these session cookies."""
    return requests.get(server.url + "/api/v1/user", cookies=cookies, timeout=30).status_code


def test_a_copied_session_cookie_is_refused_after_logout(server):
    login = new_user(server)
    answer, browser = login_form(server, login, PASSWORD)
    assert answer.status_code == 302
    stolen = browser.cookies.get_dict()
    assert whoami(server, stolen) == 200
    page = browser.get(server.url + "/", timeout=30).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    out = browser.post(
        server.url + "/logout", data={"csrf_token": csrf}, allow_redirects=False, timeout=30
    )
    assert out.status_code == 302
    assert whoami(server, stolen) == 401


def test_a_password_change_with_the_cli_ends_open_sessions(server):
    login = new_user(server)
    answer, browser = login_form(server, login, PASSWORD)
    assert answer.status_code == 302
    old = browser.cookies.get_dict()
    assert whoami(server, old) == 200
    out = server.cli("user", "passwd", login, "--password", "another-long-password")
    assert "sessions are ended" in out
    assert whoami(server, old) == 401
    answer, fresh = login_form(server, login, "another-long-password")
    assert answer.status_code == 302 and whoami(server, fresh.cookies.get_dict()) == 200


def test_a_password_change_through_the_api_ends_open_sessions(server):
    login = new_user(server)
    answer, browser = login_form(server, login, PASSWORD)
    old = browser.cookies.get_dict()
    resp = server.api(
        "PATCH", f"/users/{login}", server.token(), json={"password": "a-third-long-password"}
    )
    assert resp.status_code == 200, resp.text
    assert whoami(server, old) == 401


def test_the_sixth_wrong_password_in_a_row_gets_429_with_retry_after(server):
    login = new_user(server)
    for _ in range(5):
        answer, _ = login_form(server, login, "wrong-password")
        assert answer.status_code == 401
    answer, _ = login_form(server, login, "wrong-password")
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in answer.text
    # Locked means locked: the right password is not even checked now.
    answer, _ = login_form(server, login, PASSWORD)
    assert answer.status_code == 429


def test_a_right_password_clears_the_count_of_wrong_ones(server):
    login = new_user(server)
    for _ in range(4):
        assert login_form(server, login, "wrong-password")[0].status_code == 401
    assert login_form(server, login, PASSWORD)[0].status_code == 302
    for _ in range(4):
        assert login_form(server, login, "wrong-password")[0].status_code == 401


def test_wrong_passwords_from_one_address_are_throttled_across_logins(tmp_path):
    with ServerProcess(tmp_path / "srv", embedded_agent=False) as srv:
        for number in range(20):
            assert login_form(srv, f"nobody{number}", "guess")[0].status_code == 401
        answer, _ = login_form(srv, "nobody-else", "guess")
        assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "method, made_as",
    [("scrypt", "scrypt:32768:8:1"), ("pbkdf2:sha256:1", "pbkdf2:sha256:1")],
)
def test_an_unknown_login_costs_a_password_verification(tmp_path, monkeypatch, method, made_as):
    # Timing is not asserted (a loaded machine): the work is. Every path runs one check of a
    # hash made by the store's method with the same cost.
    import runner.store.users as users_module

    db = Database(f"sqlite:///{tmp_path / 'runner.db'}")
    db.migrate()
    users = UserStore(db, hash_method=method)
    users.create("alice", PASSWORD)
    users.create("robot")  # an account without a password
    checked = []
    real = users_module.check_password
    monkeypatch.setattr(
        users_module,
        "check_password",
        lambda pw, stored: checked.append(stored) or real(pw, stored),
    )
    assert users.authenticate("alice", "wrong") is None
    assert users.authenticate("nobody", "wrong") is None
    assert users.authenticate("robot", "") is None
    assert len(checked) == 3 and all(h.startswith(made_as + "$") for h in checked)
    db.dispose()


def test_the_session_cookie_is_secure_when_the_server_url_is_https(tmp_path):
    env = {"RUNNER_SERVER_URL": "https://ci.example.com"}
    with ServerProcess(tmp_path / "https", embedded_agent=False, extra_env=env) as srv:
        login = new_user(srv)
        # The test talks plain http to the server behind its https address, so it hands the
        # Secure cookie of the form page back itself (a browser would not, over http).
        page = requests.get(srv.url + "/login", timeout=30)
        assert "; Secure" in page.headers["Set-Cookie"]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = requests.post(
            srv.url + "/login",
            data={"login": login, "password": PASSWORD, "csrf_token": csrf},
            headers={"Cookie": "session=" + page.cookies["session"]},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302
        assert "; Secure" in answer.headers["Set-Cookie"]
        assert "HttpOnly" in answer.headers["Set-Cookie"]


def test_the_session_cookie_is_not_secure_over_plain_http(server):
    answer, _ = login_form(server, new_user(server), PASSWORD)
    assert answer.status_code == 302 and "Secure" not in answer.headers["Set-Cookie"]


def test_an_admin_password_needs_12_characters_at_creation_and_change(server):
    token = server.token()
    short = server.api(
        "POST", "/users", token, json={"login": "boss1", "password": "x" * 11, "is_admin": True}
    )
    assert short.status_code == 400 and "at least 12 characters" in short.json()["error"]
    ok = server.api(
        "POST", "/users", token, json={"login": "boss2", "password": "x" * 12, "is_admin": True}
    )
    assert ok.status_code == 201, ok.text
    plain = server.api("POST", "/users", token, json={"login": "dev1", "password": "y" * 8})
    assert plain.status_code == 201, plain.text
    change = server.api("PATCH", "/users/boss2", token, json={"password": "z" * 11})
    assert change.status_code == 400 and "at least 12 characters" in change.json()["error"]
    cli = subprocess.run(
        [sys.executable, "-m", "runner", "user", "add", "boss3", "--admin", "--password", "short"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode != 0 and "at least 12 characters" in cli.stderr


def test_a_server_refuses_to_start_with_a_short_admin_password(tmp_path):
    srv = ServerProcess(tmp_path / "short", embedded_agent=False, admin_password="x" * 11)
    with pytest.raises(AssertionError, match="server exited at start"):
        srv.start()
    srv.stop()
    assert "at least 12 characters" in srv.log()


def test_the_admin_page_refuses_a_short_admin_password(server):
    answer, browser = login_form(server, "admin", server.env["RUNNER_ADMIN_PASSWORD"])
    assert answer.status_code == 302
    page = browser.get(server.url + "/admin/users", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"login": "boss9", "password": "x" * 11, "is_admin": "1", "csrf_token": csrf}
    refused = browser.post(server.url + "/admin/users", data=form, timeout=30)
    assert refused.status_code == 400
    assert "A server admin&#39;s password needs at least 12 characters" in refused.text
    form["password"] = "x" * 12
    made = browser.post(server.url + "/admin/users", data=form, timeout=30)
    assert made.status_code == 200 and "User boss9 created" in made.text
