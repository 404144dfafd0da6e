"""Every number the REST API reads — query arguments, path parts, JSON fields, Last-Event-ID —
answers 400 naming it when it is not a whole number, negative or huge, never a 500; numbers in
range still work. Through the application and through a real `runner server`."""

from __future__ import annotations

import logging

import pytest

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.server.app import create_app
from runner.store import stage_from_spec
from runner.testing import ServerProcess, app_settings

HUGE = "9" * 30
BUILDS = "/api/v1/repos/acme/app/builds"


@pytest.fixture
def hub(tmp_path):
    settings = app_settings(tmp_path / "data", admin_password="x" * 20, embedded_agent=False)
    app = create_app(settings, start_background=False)
    services = app.extensions["runner"]
    stores = services.stores
    repo = stores.repos.create("acme/app", forge="github", clone_url="file:///nonexistent")
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        steps=[StepSpec(name="test", image="runner-test/busybox", commands=["true"])],
    )
    build = Build(id=0, repo_id=repo.id, number=0, event="push", branch="main", commit="a" * 40)
    build.stages.append(stage_from_spec(spec))
    stores.builds.create(build)
    admin = stores.users.create("root", "password-root", is_admin=True)
    _token, plain = stores.tokens.create("root-token", kind="user", user_id=admin.id)
    services.client = app.test_client()
    services.auth = {"Authorization": f"Bearer {plain}"}
    yield services
    services.db.dispose()


def call(hub, method: str, path: str, **kwargs):
    headers = {**hub.auth, **kwargs.pop("headers", {})}
    return hub.client.open(path, method=method, headers=headers, **kwargs)


BAD = [
    ("GET", f"{BUILDS}?page=-1", {}, "page must be at least 1"),
    ("GET", f"{BUILDS}?page=0", {}, "page must be at least 1"),
    ("GET", f"{BUILDS}?page=abc", {}, "page must be a whole number"),
    ("GET", f"{BUILDS}?page=1e3", {}, "page must be a whole number"),
    ("GET", f"{BUILDS}?page=1_000", {}, "page must be a whole number"),
    ("GET", f"{BUILDS}?page={HUGE}", {}, "page must be"),
    ("GET", f"{BUILDS}?per_page=1000", {}, "per_page must be at most 100"),
    ("GET", f"{BUILDS}/-1", {}, "at least 0"),
    ("GET", f"{BUILDS}/{HUGE}", {}, "number in the path"),
    ("GET", f"{BUILDS}/2147483648", {}, "at most 2147483647"),
    ("POST", f"{BUILDS}/-3/restart", {}, "at least 0"),
    ("POST", f"{BUILDS}/{HUGE}/cancel", {}, "number in the path"),
    ("GET", f"{BUILDS}/{HUGE}/history", {}, "number in the path"),
    ("GET", f"{BUILDS}/1/logs/-1/1", {}, "at least 0"),
    ("GET", f"{BUILDS}/1/logs/1/{HUGE}", {}, "number in the path"),
    ("GET", f"{BUILDS}/1/logs/1/1/stream", {"headers": {"Last-Event-ID": "x"}}, "Last-Event-ID"),
    ("GET", f"{BUILDS}/1/logs/1/1/stream?after={HUGE}", {}, "Last-Event-ID"),
    ("GET", f"{BUILDS}/1/logs/1/1/stream?after=-2", {}, "at least -1"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": "x"}}, "capacity"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": -1}}, "capacity"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": 10**30}}, "capacity"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": True}}, "capacity"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": 1.5}}, "capacity"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": "²"}}, "capacity must be"),
    ("POST", "/api/v1/agents", {"json": {"name": "a", "capacity": "9" * 5000}}, "capacity"),
    ("DELETE", "/api/v1/agents/-1", {}, "at least 0"),
    ("DELETE", f"/api/v1/agents/{HUGE}", {}, "number in the path"),
    ("DELETE", f"/api/v1/user/tokens/{HUGE}", {}, "number in the path"),
    ("PATCH", "/api/v1/repos/acme/app", {"json": {"timeout": "x"}}, "timeout"),
    ("PATCH", "/api/v1/repos/acme/app", {"json": {"timeout": -1}}, "timeout"),
    ("PATCH", "/api/v1/repos/acme/app", {"json": {"timeout": 10**20}}, "timeout"),
    ("PATCH", "/api/v1/repos/acme/app", {"json": {"timeout": [1]}}, "timeout"),
    (
        "POST",
        "/api/v1/repos",
        {"json": {"slug": "acme/new", "clone_url": "file:///x", "timeout": "soon"}},
        "timeout",
    ),
    (
        "POST",
        "/api/v1/repos/acme/app/environments",
        {"json": {"name": "staging", "position": "first"}},
        "position",
    ),
    (
        "POST",
        "/api/v1/repos/acme/app/environments",
        {"json": {"name": "staging", "position": 10**40}},
        "position",
    ),
]


@pytest.mark.parametrize(
    "method, path, kwargs, words", BAD, ids=[f"{i}-{c[0]}" for i, c in enumerate(BAD)]
)
def test_bad_numbers_answer_400_naming_them(hub, caplog, method, path, kwargs, words):
    caplog.set_level(logging.WARNING)
    resp = call(hub, method, path, **kwargs)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400, text
    assert words in resp.get_json()["error"], text
    assert "Traceback" not in text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_numbers_in_range_still_work(hub):
    assert call(hub, "GET", f"{BUILDS}?page=1&per_page=100").status_code == 200
    assert call(hub, "GET", f"{BUILDS}/1").get_json()["number"] == 1
    assert call(hub, "GET", f"{BUILDS}/2147483647").status_code == 404
    resp = call(hub, "PATCH", "/api/v1/repos/acme/app", json={"timeout": 600})
    assert resp.status_code == 200 and resp.get_json()["timeout"] == 600
    resp = call(hub, "POST", "/api/v1/agents", json={"name": "a", "capacity": 4})
    assert resp.status_code == 201 and resp.get_json()["capacity"] == 4
    env = {"name": "staging", "position": -5}
    assert call(hub, "POST", "/api/v1/repos/acme/app/environments", json=env).status_code == 201


def test_real_server_answers_bad_numbers_with_400_and_logs_no_traceback(tmp_path):
    server = ServerProcess(tmp_path / "server", embedded_agent=False).start()
    try:
        admin = server.token()
        made = server.api(
            "POST", "/repos", admin, json={"slug": "acme/app", "clone_url": "file:///x"}
        )
        assert made.status_code == 201, made.text
        for method, path, kwargs in [
            ("GET", f"/repos/acme/app/builds?page={HUGE}", {}),
            ("GET", f"/repos/acme/app/builds/{HUGE}", {}),
            ("GET", "/repos/acme/app/builds/-1/logs/1/1", {}),
            ("PATCH", "/repos/acme/app", {"json": {"timeout": "x"}}),
            ("POST", "/agents", {"json": {"name": "x", "capacity": 10**30}}),
        ]:
            resp = server.api(method, path, admin, **kwargs)
            assert resp.status_code == 400, (path, resp.text)
            assert resp.json()["error"]
        log = server.log()
        assert "Traceback" not in log and "unhandled error" not in log, log
    finally:
        server.stop()
