"""Correctly signed but hostile webhooks never crash the server: malformed bodies of every forge
answer 400 naming the field, signature headers of any bytes 401, a replayed signed body (even
under a new delivery id) is a duplicate, the generic webhook works only where a repository turns
it on and its target only within the environment's rules, and floods get 429 with Retry-After.
Through the application (Flask test client) and through a real `runner server`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading

import pytest
import requests

from runner.testing import LocalRepo, ServerProcess
from runner.testing import github_push as signed_github_push
from tests.security.webhook_kit import PIPELINE, SHA, SLUGS, post, signed, webhook_hub


@pytest.fixture
def origin(tmp_path):
    repo = LocalRepo(tmp_path / "forge")
    repo.commit({".drone.yml": PIPELINE}, "Add CI")
    return repo


@pytest.fixture
def hub(tmp_path, origin):
    """An application with one repository per forge (the generic one with its hook on)."""
    with webhook_hub(tmp_path / "data", origin.clone_url) as services:
        yield services


def builds(hub, forge: str) -> list:
    repo = hub.stores.repos.get_by_slug(SLUGS[forge])
    return hub.stores.builds.page_of_repo(repo.id)


def assert_refused(resp, status: int, *words: str) -> None:
    """A JSON answer of ``status`` whose error names ``words``, without a stack trace."""
    text = resp.get_data(as_text=True)
    assert resp.status_code == status, text
    assert "Traceback" not in text and 'File "' not in text
    error = resp.get_json()["error"]
    for word in words:
        assert word in error, error


# The named bodies of the issue, and their kin: (forge, event header, raw body, words of the 400).
DEEP = b'{"ref": "refs/heads/main", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
BAD_BODIES = [
    ("github", "push", b'{"ref": {}}', ["'ref'", "valid string"]),
    ("github", "push", b'{"ref": "refs/heads/main", "head_commit": "x"}', ["'head_commit'"]),
    ("github", "pull_request", b'{"action": "opened", "number": "x"}', ["'number'"]),
    ("github", "push", b'{"ref": "refs/heads/main\\u0000", "after": "' + SHA.encode() + b'"}', []),
    ("github", "push", b'{"ref": "refs/heads/main", "head_commit": {"message": "\\ud800"}}', []),
    (
        "github",
        "push",
        b'{"ref": "refs/heads/main", "after": "' + SHA.encode() + b'", '
        b'"head_commit": {"message": "a\\u0000b"}}',
        ["NUL"],
    ),
    (
        "github",
        "pull_request",
        b'{"action": "opened", "number": 99999999999999999999999, '
        b'"pull_request": {"head": {"sha": "' + SHA.encode() + b'"}}}',
        ["'number'"],
    ),
    ("github", "pull_request", b'{"action": "opened", "number": ' + b"9" * 5000 + b"}", []),
    ("github", "push", b'{"ref": "refs/heads/main", "before": NaN}', ["NaN"]),
    ("github", "push", b'{"ref": "refs/heads/main", "x": Infinity}', ["Infinity"]),
    ("github", "push", b'{"ref": "refs/heads/main", "x": 1e999}', ["out of range"]),
    ("github", "push", DEEP, ["deeper than"]),
    ("github", "push", b"\xff\xfe{}", ["not UTF-8"]),
    (
        "github",
        "push",
        b'{"ref": "--upload-pack=touch /tmp/x", "after": "' + SHA.encode() + b'"}',
        ["git ref"],
    ),
    (
        "gitlab",
        "Push Hook",
        b'{"ref": "refs/heads/main", "after": "' + SHA.encode() + b'", "commits": {"a": 1}}',
        ["'commits'"],
    ),
    ("gitlab", "Merge Request Hook", b'{"object_attributes": {"iid": -1}}', ["attributes.iid"]),
    (
        "gitlab",
        "Merge Request Hook",
        b'{"object_attributes": {"action": "open", "iid": 1, "last_commit": {"id": true}}}',
        ["last_commit.id"],
    ),
    (
        "gitea",
        "push",
        b'{"ref": "refs/heads/main", "after": "' + SHA.encode() + b'", '
        b'"commits": [{"added": "a.py"}]}',
        ["commits.0.added"],
    ),
    ("gitea", "pull_request", b'{"action": "opened", "pull_request": []}', ["'pull_request'"]),
    ("gogs", "push", b'{"ref": "refs/heads/main", "after": 7}', ["'after'"]),
    ("gogs", "pull_request", b'{"action": "opened", "number": 1.5, "pull_request": {}}', []),
    ("generic", "", b'{"branch": "main", "pull_request": true}', ["'pull_request'"]),
    ("generic", "", b'{"branch": "main", "params": {"A": {"b": 1}}}', ["params"]),
    ("generic", "", b'{"branch": "main", "commit": "--output=/etc/passwd"}', ["hex sha"]),
    ("generic", "", b'{"branch": "-b"}', ["git ref"]),
    ("generic", "", b'{"branch": "main", "changed_files": [1]}', ["changed_files"]),
]


@pytest.mark.parametrize(
    "forge, event, raw, words",
    BAD_BODIES,
    ids=[f"{i}-{case[0]}" for i, case in enumerate(BAD_BODIES)],
)
def test_signed_malformed_bodies_answer_400_with_the_reason(hub, caplog, forge, event, raw, words):
    caplog.set_level(logging.WARNING)
    resp = post(hub, forge, signed(forge, event, raw), raw)
    assert_refused(resp, 400, *words)
    assert builds(hub, forge) == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("forge", ["github", "gitea", "gogs", "generic", "gitlab"])
@pytest.mark.parametrize("value", ["sha256=é" + "0" * 63, "ÿ" * 64, "sha256=" + "\x80" * 64])
def test_signature_headers_of_any_bytes_are_refused_with_401(hub, forge, value):
    raw = json.dumps({"ref": "refs/heads/main", "after": SHA, "commit": SHA}).encode()
    headers = signed(forge, "push", raw)
    name = next(h for h in headers if "Signature" in h or "Token" in h)
    headers[name] = value
    resp = post(hub, forge, headers, raw)
    assert_refused(resp, 401, name)
    assert builds(hub, forge) == []


def test_a_signed_tag_push_resent_with_a_new_delivery_id_is_a_duplicate(hub, origin):
    sha = origin.commit({}, "Release", tag="v1.0.0")
    tag = {"ref": "refs/tags/v1.0.0", "before": "0" * 40, "after": sha, "head_commit": {"id": sha}}
    raw = json.dumps(tag).encode()
    first = post(hub, "github", signed("github", "push", raw, delivery="first"), raw)
    assert first.status_code == 201, first.get_json()
    replay = post(hub, "github", signed("github", "push", raw, delivery="attacker-new-id"), raw)
    assert replay.status_code == 200
    answer = replay.get_json()
    assert answer["status"] == "duplicate" and answer["build"] == 1
    assert "same signed body" in answer["reason"] and "first" in answer["reason"]
    # A body without any delivery id is caught the same way, on every forge.
    gitea = json.dumps({"ref": "refs/tags/v1.0.0", "after": sha}).encode()
    headers = signed("gitea", "push", gitea)
    del headers["X-Gitea-Delivery"]
    assert post(hub, "gitea", headers, gitea).status_code == 201
    assert post(hub, "gitea", headers, gitea).get_json()["status"] == "duplicate"
    assert [b.event for b in builds(hub, "github")] == ["tag"]
    assert len(builds(hub, "gitea")) == 1
    stored = hub.stores.hook_deliveries.get(1, "first")
    assert stored.body_hash == hashlib.sha256(raw).hexdigest()


def replay_race(hub, origin) -> list[int]:
    """Six threads send one signed push body at once, each under its own delivery id."""
    sha = origin.commit({}, "Raced")
    raw = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    answers: list[int] = []
    barrier = threading.Barrier(6)

    def deliver(n: int) -> None:
        client = hub.app.test_client()
        barrier.wait()
        resp = post_with(client, "gitea", signed("gitea", "push", raw, delivery=f"race-{n}"), raw)
        answers.append(resp.status_code)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(answers)


def post_with(client, forge: str, headers: dict, raw: bytes):
    return client.post(f"/hook/{SLUGS[forge]}", data=raw, headers=headers)


def test_one_body_sent_at_once_under_many_delivery_ids_makes_one_build(hub, origin):
    assert replay_race(hub, origin) == [200] * 5 + [201]
    assert len(builds(hub, "gitea")) == 1


@pytest.mark.postgres
def test_one_body_sent_at_once_under_many_delivery_ids_makes_one_build_on_postgres(
    tmp_path, origin, postgres_migrated_url
):
    with webhook_hub(tmp_path / "pg", origin.clone_url, database_url=postgres_migrated_url) as pg:
        assert replay_race(pg, origin) == [200] * 5 + [201]
        assert len(builds(pg, "gitea")) == 1


def test_generic_webhook_is_refused_until_the_repository_turns_it_on(hub):
    raw = json.dumps({"event": "custom", "branch": "main"}).encode()
    headers = signed("generic", "", raw)
    refused = post(hub, "generic", headers, raw, slug=SLUGS["github"])
    assert_refused(refused, 403, "generic webhook is off", "--generic-hook")
    assert builds(hub, "github") == []
    repo = hub.stores.repos.get_by_slug(SLUGS["github"])
    hub.stores.repos.update(repo.id, generic_hook=True)
    accepted = post(hub, "generic", headers, raw, slug=SLUGS["github"])
    assert accepted.status_code == 201, accepted.get_json()
    assert [b.event for b in builds(hub, "github")] == ["custom"]


def bearer(hub, repo, login: str, role: str) -> dict[str, str]:
    """The Authorization header of a new user holding ``role`` on ``repo``."""
    user = hub.stores.users.create(login, "password-" + login)
    hub.stores.users.grant(user.id, repo.id, role)
    _token, plain = hub.stores.tokens.create(f"{login}-token", kind="user", user_id=user.id)
    return {"Authorization": f"Bearer {plain}"}


def test_generic_hook_switch_is_a_repository_admin_setting_of_the_api(hub):
    repo = hub.stores.repos.get_by_slug(SLUGS["github"])
    owner = bearer(hub, repo, "owner", "admin")
    writer = bearer(hub, repo, "writer", "write")
    path = f"/api/v1/repos/{SLUGS['github']}"
    assert hub.client.get(path, headers=owner).get_json()["generic_hook"] is False
    denied = hub.client.patch(path, json={"generic_hook": True}, headers=writer)
    assert denied.status_code == 403
    wrong = hub.client.patch(path, json={"generic_hook": "false"}, headers=owner)
    assert wrong.status_code == 400 and "true or false" in wrong.get_json()["error"]
    done = hub.client.patch(path, json={"generic_hook": True}, headers=owner)
    assert done.status_code == 200 and done.get_json()["generic_hook"] is True


@pytest.fixture
def production(hub):
    """Environment production of the generic repository: tags v* only, with approval."""
    repo = hub.stores.repos.get_by_slug(SLUGS["generic"])
    return hub.stores.environments.create(
        repo.id, "production", tags=["v*"], approval_required=True, labels={"env": "production"}
    )


def test_a_requested_target_outside_the_environments_rules_is_refused(hub, origin, production):
    sha = origin.commit({}, "feature work", branch="feature")
    for n, (body, words) in enumerate(
        [
            ({"branch": "feature", "commit": sha, "target": "production"}, ["branch 'feature'"]),
            ({"event": "custom", "branch": "main", "target": "production"}, ["custom build"]),
            ({"tag": "nightly", "commit": sha, "target": "production"}, ["tag 'nightly'"]),
        ]
    ):
        raw = json.dumps(body).encode()
        resp = post(hub, "generic", signed("generic", "", raw, delivery=f"t{n}"), raw)
        assert_refused(resp, 403, "environment production does not take", *words)
    raw = json.dumps({"branch": "main", "target": "mars"}).encode()
    assert_refused(post(hub, "generic", signed("generic", "", raw), raw), 400, "no environment")
    assert builds(hub, "generic") == []


def test_a_requested_target_within_the_rules_deploys_with_its_approval(hub, origin, production):
    sha = origin.commit({}, "Release", tag="v2.0.0")
    raw = json.dumps({"tag": "v2.0.0", "commit": sha, "target": "production"}).encode()
    resp = post(hub, "generic", signed("generic", "", raw), raw)
    assert resp.status_code == 201, resp.get_json()
    (build,) = builds(hub, "generic")
    assert build.target == "production" and build.status == "blocked"


def test_webhook_floods_get_429_with_retry_after(hub, origin):
    hub.settings.hook_rate_per_repo = 3
    answers = []
    for n in range(4):
        raw = json.dumps({"branch": "main", "n": n}).encode()
        answers.append(post(hub, "generic", signed("generic", "", raw, delivery=f"f{n}"), raw))
    assert [a.status_code for a in answers[:3]] == [201, 201, 201], [a.get_json() for a in answers]
    assert_refused(answers[3], 429, "more than 3 webhooks a minute for acme/generic")
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 20
    assert len(builds(hub, "generic")) == 3
    # Unsigned requests do not spend a repository's budget; other repositories have their own.
    raw = json.dumps({"ref": "refs/heads/main", "after": origin.commit({}, "x")}).encode()
    ok = post(hub, "gitea", signed("gitea", "push", raw), raw)
    assert ok.status_code == 201, ok.get_json()
    # The bound of the whole server counts signed deliveries of every repository.
    hub.settings.hook_rate_global = 1
    raw = json.dumps({"ref": "refs/heads/main", "after": origin.commit({}, "y")}).encode()
    first = post(hub, "gitea", signed("gitea", "push", raw, delivery="g2"), raw)
    assert first.status_code == 201, first.get_json()
    raw = json.dumps({"ref": "refs/heads/main", "after": origin.commit({}, "z")}).encode()
    resp = post(hub, "github", signed("github", "push", raw, delivery="g3"), raw)
    assert_refused(resp, 429, "more than 1 webhooks a minute")
    assert int(resp.headers["Retry-After"]) >= 1


def test_unsigned_junk_does_not_spend_the_servers_budget_for_signed_deliveries(hub):
    """The review's case: with a global rate of 10, ten unsigned POSTs to a repository that does
    not exist (404 each) must not make the next correctly signed delivery a 429."""
    hub.settings.hook_rate_global = 10
    for _ in range(10):
        assert_refused(hub.client.post("/hook/nobody/nothing", data=b"{}"), 404)
    for n in range(10):
        headers = {"X-Runner-Signature": "sha256=" + "0" * 64, "X-Runner-Delivery": f"j{n}"}
        assert post(hub, "generic", headers, b"{}").status_code == 401
    raw = json.dumps({"branch": "main"}).encode()
    resp = post(hub, "generic", signed("generic", "", raw), raw)
    assert resp.status_code == 201, resp.get_json()


def test_refused_webhooks_are_bounded_per_client_address(hub):
    """Junk (unknown repository, bad signature) beyond ``hook_rate_rejected`` a minute from one
    address gets 429 before its body is read; another address, and its signed deliveries,
    are unaffected."""
    hub.settings.hook_rate_rejected = 3

    def from_address(address: str, slug: str, headers: dict | None = None, raw: bytes = b"{}"):
        return hub.client.post(
            f"/hook/{slug}", data=raw, headers=headers, environ_base={"REMOTE_ADDR": address}
        )

    def junk(address: str):
        return from_address(address, "nobody/nothing")

    bad = {"X-Runner-Signature": "sha256=" + "0" * 64}
    assert junk("192.0.2.1").status_code == 404
    statuses = [from_address("192.0.2.1", SLUGS["generic"], bad).status_code for _ in range(2)]
    assert statuses == [401, 401]
    flood = junk("192.0.2.1")
    assert_refused(flood, 429, "more than 3 refused webhooks a minute from your address")
    assert int(flood.headers["Retry-After"]) >= 1
    # Refused before the body is read: a body too large to read is not even looked at (413).
    huge = b"x" * (hub.settings.max_body_bytes + 1)
    assert_refused(from_address("192.0.2.1", "nobody/nothing", raw=huge), 429, "refused webhooks")
    assert junk("192.0.2.2").status_code == 404
    raw = json.dumps({"branch": "main"}).encode()
    resp = from_address("192.0.2.2", SLUGS["generic"], signed("generic", "", raw), raw)
    assert resp.status_code == 201, resp.get_json()
    # An address over its limit is refused whatever it sends until its bucket refills.
    again = from_address("192.0.2.1", SLUGS["generic"], signed("generic", "", raw), raw)
    assert again.status_code == 429


def test_unsigned_requests_do_not_spend_the_repository_budget(hub):
    hub.settings.hook_rate_per_repo = 2
    raw = json.dumps({"branch": "main"}).encode()
    for n in range(5):
        headers = {"X-Runner-Signature": "sha256=" + "0" * 64, "X-Runner-Delivery": str(n)}
        assert post(hub, "generic", headers, raw).status_code == 401
    resp = post(hub, "generic", signed("generic", "", raw), raw)
    assert resp.status_code == 201, resp.get_json()


def test_delivery_ids_that_cannot_be_stored_answer_400(hub):
    raw = json.dumps({"branch": "main"}).encode()
    for delivery in ["x" * 201, "two words", "tab\there"]:
        resp = post(hub, "generic", signed("generic", "", raw, delivery=delivery), raw)
        assert_refused(resp, 400, "delivery id")
    assert builds(hub, "generic") == []


# A real `runner server` ------------------------------------------------------------------


def test_real_server_refuses_hostile_webhooks_without_a_traceback(tmp_path, origin):
    """End to end over HTTP: raw non-ASCII signature bytes, the named bad bodies, a replay
    under a new delivery id, a disabled generic hook and a flood, against `runner server`."""
    server = ServerProcess(
        tmp_path / "server",
        embedded_agent=False,
        extra_env={"RUNNER_HOOK_RATE_PER_REPO": "40"},
    ).start()
    try:
        admin = server.token()
        slug = "acme/e2e"
        made = server.api(
            "POST",
            "/repos",
            admin,
            json={"slug": slug, "forge": "github", "clone_url": origin.clone_url},
        )
        assert made.status_code == 201, made.text
        secret = made.json()["webhook_secret"]
        sha = origin.commit({}, "Change")
        headers, body = signed_github_push(slug, origin, sha, secret)

        def deliver(extra: dict | None = None, raw: bytes = body) -> requests.Response:
            return requests.post(
                f"{server.url}/hook/{slug}",
                data=raw,
                headers={**headers, **(extra or {})},
                timeout=30,
            )

        # Header bytes that are not ASCII reach the signature check as they are.
        for value in (b"sha256=\xff\xfe" + b"0" * 62, "sha256=é".encode() + b"0" * 63):
            resp = deliver({"X-Hub-Signature-256": value})
            assert resp.status_code == 401, resp.text
        for forge, event, raw, _words in BAD_BODIES:
            if forge != "github":
                continue
            sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            resp = deliver({"X-GitHub-Event": event, "X-Hub-Signature-256": sig}, raw)
            assert resp.status_code == 400, (raw[:80], resp.text)
            assert resp.headers["Content-Type"].startswith("application/json")
        first = deliver()
        assert first.status_code == 201, first.text
        replay = deliver({"X-GitHub-Delivery": "a-new-id"})
        assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
        generic = deliver({"X-Runner-Signature": "sha256=" + "0" * 64})
        assert generic.status_code == 403, generic.text
        listed = server.api("GET", f"/repos/{slug}/builds", admin).json()
        assert len(listed) == 1
        answers = [deliver({"X-GitHub-Delivery": f"n{i}"}).status_code for i in range(45)]
        assert 429 in answers and not [a for a in answers if a >= 500]
        assert server.api("GET", "/user", admin).status_code == 200
        log = server.log()
        assert "Traceback" not in log and "unhandled error" not in log, log
    finally:
        server.stop()


def test_hook_paths_that_name_no_repository_are_404(hub):
    raw = json.dumps({"branch": "main"}).encode()
    for slug in ["acme/gen%00eric", "acme/%0a", "a" * 300 + "/x", "acme/%ff%fe"]:
        resp = post(hub, "generic", signed("generic", "", raw), raw, slug=slug)
        assert_refused(resp, 404)
