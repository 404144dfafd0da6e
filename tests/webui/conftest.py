"""Fixtures of the web UI tests: a seeded app, logged-in clients, a served app and a browser."""

from __future__ import annotations

import re
import threading

import pytest
from webui_seed import PASSWORD, seed

from runner.testing import app_settings
from tests.fixtures.browser import chromium, log_in

ADMIN_PASSWORD = "admin-pass-1"


@pytest.fixture
def app(tmp_path):
    """The real application over a fresh store, without scheduler or agent (pages are seeded)."""
    from runner.server.app import create_app

    settings = app_settings(tmp_path, embedded_agent=False, admin_password=ADMIN_PASSWORD)
    app = create_app(settings, start_background=False)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def stores(app):
    return app.extensions["runner"].stores


@pytest.fixture
def seeded(stores):
    return seed(stores)


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered form."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, user: str, password: str | None = None):
    """Log ``client`` in through the form; returns the response of the POST."""
    page = client.get("/login").get_data(as_text=True)
    password = password or (ADMIN_PASSWORD if user == "admin" else PASSWORD)
    return client.post(
        "/login", data={"login": user, "password": password, "csrf_token": csrf_of(page)}
    )


@pytest.fixture
def client_as(app, seeded):
    """``client_as("reader")`` returns a test client logged in as that user."""

    def make(user: str):
        client = app.test_client()
        assert login(client, user).status_code == 302
        return client

    return make


class ServedApp:
    """An app served on 127.0.0.1 by a threaded WSGI server in this process."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def served(app, seeded):
    s = ServedApp(app)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


def browser_login(page, base_url: str, user: str, password: str | None = None):
    """Log a browser page in through the login form (seeded users' passwords by default)."""
    log_in(page, base_url, user, password or (ADMIN_PASSWORD if user == "admin" else PASSWORD))
