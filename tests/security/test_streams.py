"""Readers cannot starve the server: open live-log streams never take the API's or the agents'
threads, one reader beyond its share gets 429 and nobody else notices, the log tail reads at
most its byte budget, and raw downloads carry a safe file name for any step name."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from runner.testing import LocalRepo, ServerProcess, github_push
from tests.fixtures.browser import chromium, log_in

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLUG = "acme/streams"
PASSWORD = "reader-password-1"
READERS = 4
PER_USER = 50
# Far above what the tests open at once, so streams a test before has closed (the server frees
# them when it next writes to them) never count against the next test; the global limit has its
# own small server below.
GLOBAL = 450
LONG_POLL = 20  # seconds an agent's claim asks to wait for work
# Seconds within which a request must answer on a loaded machine; a request held up behind
# the streams would wait for minutes (the long build's), a refused long-poll for its wait.
DEADLINE = 30.0


def _pipeline(name: str, commands: list[str], image: str = "runner-test/busybox") -> str:
    lines = "\n".join(f"  - {json.dumps(c)}" for c in commands)
    return (
        "kind: pipeline\nname: default\nclone:\n  disable: true\nsteps:\n"
        f"- name: {json.dumps(name)}\n  image: {image}\n  commands:\n{lines}\n"
    )


class World:
    """One server with the given stream limits, one repository, read-only users."""

    def __init__(self, root: Path, *, limits: tuple[int, int], embedded_agent: bool = True):
        total, per_user = limits
        self.server = ServerProcess(
            root / "data",
            lease_seconds=60,
            embedded_agent=embedded_agent,
            extra_env={
                "RUNNER_LIVE_STREAMS_MAX": str(total),
                "RUNNER_LIVE_STREAMS_PER_USER": str(per_user),
            },
        )
        self.root = root
        self.repo: LocalRepo | None = None
        self.secret = ""
        self.admin = ""
        self.users = 0

    def start(self) -> World:
        self.server.start()
        self.admin = self.server.token("admin")
        self.repo = LocalRepo(self.root / "git")
        resp = self.server.api(
            "POST",
            "/repos",
            self.admin,
            json={"slug": SLUG, "forge": "github", "clone_url": self.repo.clone_url},
        )
        assert resp.status_code == 201, resp.text
        self.secret = resp.json()["webhook_secret"]
        return self

    def new_readers(self, count: int) -> list[tuple[str, str]]:
        """``count`` new users with the read role on the repository: ``(login, token)`` each."""
        made = []
        for _ in range(count):
            self.users += 1
            login = f"reader{self.users}"
            made.append((login, self.add_reader(login)))
        return made

    def add_reader(self, login: str) -> str:
        resp = self.server.api(
            "POST", "/users", self.admin, json={"login": login, "password": PASSWORD}
        )
        assert resp.status_code == 201, resp.text
        resp = self.server.api(
            "PUT", f"/repos/{SLUG}/perms/{login}", self.admin, json={"role": "read"}
        )
        assert resp.status_code == 200, resp.text
        return self.server.token(login)

    def push(self, pipeline: str, branch: str) -> int:
        """Commit ``pipeline`` on ``branch``, deliver the push; the new build's number."""
        sha = self.repo.commit({".drone.yml": pipeline}, f"on {branch}", branch=branch)
        headers, body = github_push(SLUG, self.repo, sha, self.secret, branch=branch)
        resp = self.server.post_hook(SLUG, headers, body)
        assert resp.status_code in (200, 201), resp.text
        builds = self.server.api("GET", f"/repos/{SLUG}/builds?branch={branch}", self.admin)
        return builds.json()[0]["number"]

    def running_step(self, number: int) -> None:
        self.server.wait_build(
            SLUG,
            number,
            self.admin,
            until=lambda b: any(
                s["status"] == "running" for st in b["stages"] for s in st["steps"]
            ),
            what="started its step",
        )

    def stream_path(self, number: int) -> str:
        return f"/api/v1/repos/{SLUG}/builds/{number}/logs/1/1/stream"

    def session(self, login: str) -> requests.Session:
        """A web UI session of ``login``, logged in through the form."""
        http = requests.Session()
        page = http.get(self.server.url + "/login", timeout=DEADLINE).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        password = PASSWORD if login != "admin" else "admin-password-test"
        resp = http.post(
            self.server.url + "/login",
            data={"login": login, "password": password, "csrf_token": csrf},
            allow_redirects=False,
            timeout=DEADLINE,
        )
        assert resp.status_code == 302, resp.text
        return http

    def worker_pid(self) -> int:
        """The gunicorn worker: it serves every request and runs the embedded agent."""
        pid = self.server.proc.pid
        return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, docker_client):
    w = World(tmp_path_factory.mktemp("streams"), limits=(GLOBAL, PER_USER))
    try:
        yield w.start()
    finally:
        w.stop()


def open_stream(server_url: str, path: str, token: str) -> tuple[socket.socket, int, str]:
    """A raw connection asking for ``path``: the socket (left open), the status, the headers."""
    host, port = server_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=DEADLINE)
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(4096)
        if not got:
            break
        head += got
    text = head.decode("latin-1")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    return sock, status, text


def open_many(world: World, path: str, token: str, count: int) -> list[socket.socket]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock, status, head = open_stream(world.server.url, path, token)
            socks.append(sock)
            assert status == 200, head
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()
    socks.clear()


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def wait_admitted(world: World, path: str, token: str) -> None:
    """Poll until a stream of ``token`` is admitted again (the server frees closed ones)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sock, status, _head = open_stream(world.server.url, path, token)
        sock.close()
        if status == 200:
            return
        time.sleep(0.5)
    raise AssertionError("closed streams were never released")


def test_two_hundred_open_streams_leave_the_api_and_agent_rpc_answering(world):
    long_build = world.push(
        _pipeline("tick", ["for i in $(seq 1 1500); do echo tick $i; sleep 0.2; done"]), "long"
    )
    world.running_step(long_build)
    path = world.stream_path(long_build)
    readers = [token for _login, token in world.new_readers(READERS)]
    socks: list[socket.socket] = []
    try:
        for token in readers:
            socks += open_many(world, path, token, PER_USER)
        assert len(socks) == 200
        # The streams are live: a sample of them receives the step's ticks.
        for sock in socks[::50]:
            sock.settimeout(DEADLINE)
            assert b"tick" in sock.recv(65536)
        # A user's API call and an agent's claim answer at once while the 200 streams are open.
        took, resp = timed(lambda: world.server.api("GET", "/user", readers[0]))
        assert resp.status_code == 200 and took < DEADLINE
        took, resp = timed(lambda: world.server.api("GET", f"/repos/{SLUG}/builds", world.admin))
        assert resp.status_code == 200 and took < DEADLINE
        probe = world.server.cli("user", "agent-token", "probe").strip()
        took, resp = timed(
            lambda: requests.post(
                world.server.url + "/rpc/v1/claim",
                json={"timeout": 0},
                headers={"Authorization": f"Bearer {probe}"},
                timeout=DEADLINE,
            )
        )
        assert resp.status_code == 204 and took < DEADLINE
        # A build runs to success meanwhile (claim, step updates, logs and heartbeats over RPC).
        quick = world.push(_pipeline("quick", ["echo quick build done"]), "quick")
        build = world.server.wait_build(SLUG, quick, world.admin, timeout=120)
        assert build["status"] == "success", build
        # The long build's stage kept its lease: it still runs on its first attempt.
        long = world.server.build(SLUG, long_build, world.admin)
        assert long["status"] == "running", long
    finally:
        close_all(socks)
        world.server.api("POST", f"/repos/{SLUG}/builds/{long_build}/cancel", world.admin)
    world.server.wait_build(SLUG, long_build, world.admin)


def test_a_reader_beyond_the_per_user_limit_gets_429_and_others_are_unaffected(world):
    number = world.push(
        _pipeline("tick", ["for i in $(seq 1 1500); do echo tick $i; sleep 0.2; done"]), "greedy"
    )
    world.running_step(number)
    path = world.stream_path(number)
    (_greedy, greedy), (_other, other) = world.new_readers(2)
    socks: list[socket.socket] = []
    try:
        socks += open_many(world, path, greedy, PER_USER)
        sock, status, head = open_stream(world.server.url, path, greedy)
        sock.close()
        assert status == 429, head
        assert re.search(r"(?im)^retry-after: \d+", head), head
        # Everyone else: streams, pages and the API answer as before.
        sock, status, head = open_stream(world.server.url, path, other)
        socks.append(sock)
        assert status == 200, head
        assert world.server.api("GET", f"/repos/{SLUG}/builds/{number}", other).status_code == 200
        # The greedy reader's own short requests are not refused either.
        assert world.server.api("GET", "/user", greedy).status_code == 200
        # Closing one of its streams gives the reader its place back.
        socks.pop(0).close()
        wait_admitted(world, path, greedy)
    finally:
        close_all(socks)
        world.server.api("POST", f"/repos/{SLUG}/builds/{number}/cancel", world.admin)
    world.server.wait_build(SLUG, number, world.admin)


def test_streams_beyond_the_global_limit_get_503_with_retry_after(tmp_path):
    # A server of its own with small limits: 6 streams in all, 4 for one user. No agent runs,
    # so the build's step stays pending and its streams stay open.
    world = World(tmp_path, limits=(6, 4), embedded_agent=False)
    server = world.server
    socks: list[socket.socket] = []
    try:
        world.start()
        number = world.push(_pipeline("tick", ["echo never runs"]), "main")
        path = world.stream_path(number)
        (_a, first), (_b, second), (_c, third) = world.new_readers(3)
        try:
            socks += open_many(world, path, first, 4)
            socks += open_many(world, path, second, 2)
            # Every user is within its share, the server is at its limit: 503, come back later.
            sock, status, head = open_stream(server.url, path, third)
            sock.close()
            assert status == 503, head
            assert re.search(r"(?im)^retry-after: \d+", head), head
            took, resp = timed(lambda: server.api("GET", "/user", third))
            assert resp.status_code == 200 and took < DEADLINE
            # A place freed by a closed stream is taken again.
            socks.pop().close()
            wait_admitted(world, path, third)
        finally:
            close_all(socks)
    finally:
        world.stop()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_tail_of_64_kib_lines_reads_at_most_the_byte_bound_with_bounded_memory(world):
    # 600 lines of 64 KiB without a newline inside (~38 MiB): the tail.json attack.
    number = world.push(
        _pipeline("wide", ["yes $(head -c 65536 /dev/zero | tr -c x x) | head -n 600"]), "wide"
    )
    build = world.server.wait_build(SLUG, number, world.admin, timeout=300)
    assert build["status"] == "success", build
    step_id = build["stages"][0]["steps"][0]["id"]
    url = f"{world.server.url}/repos/{SLUG}/{number}/logs/{step_id}/tail.json"
    viewers = [world.session(login) for login, _token in world.new_readers(READERS)] * 2
    bound = 1024 * 1024  # the default log_view_bytes
    first = viewers[0].get(url, timeout=60).json()
    assert first["lines"] and first["lines"][-1] == "x" * len(first["lines"][-1])
    assert sum(len(line.encode()) + 1 for line in first["lines"]) <= bound + 1
    assert first["total_lines"] == first["first_line"] + len(first["lines"]) - 1
    assert first["total_lines"] >= 600  # line numbers count the whole log

    pid = world.worker_pid()
    before = _rss_mb(pid)
    peak = before
    errors: list[str] = []

    def view(http: requests.Session) -> None:
        for _ in range(5):
            resp = http.get(url, timeout=120)
            body = resp.json()
            if sum(len(line.encode()) + 1 for line in body["lines"]) > bound + 1:
                errors.append(f"tail of {len(body['lines'])} lines over the bound")

    threads = [threading.Thread(target=view, args=(http,)) for http in viewers]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _rss_mb(pid))
        time.sleep(0.02)
    for http in viewers:
        http.close()
    assert not errors, errors
    # Eight viewers reading the tail of a 38 MiB log: the server's memory grows by what eight
    # 1 MiB tails in flight cost, a few copies each (about 20 MB on a quiet machine, where the
    # threads share two allocator arenas, ``runner.malloc``; up to 100 MB seen on a busy CI
    # machine, as the allocator's reuse depends on how the requests interleave). Reading the
    # whole log would hold at least one 38 MiB copy per viewer, over 300 MB: the bound is half
    # of that, so it tells a tail from a whole read whatever the allocator does.
    whole_log_reads = len(viewers) * 600 * 65537 / 2**20
    print(f"\nworker RSS {before:.0f} MB before 8 tail viewers, peak {peak:.0f} MB during")
    assert peak - before < whole_log_reads / 2, (before, peak, whole_log_reads)


@pytest.mark.parametrize(
    "step_name", ["line one\nline two", 'Übersetzung "日志" ;name=x.log', "a\\b/c\r\n"]
)
def test_raw_download_of_a_step_with_any_name_has_a_safe_file_name(world, step_name):
    # The file is substituted before it is read, and drone/envsubst (v1.0.3, parse/scan.go
    # ``scanEscaped``) reads ``\\`` as one backslash anywhere in the text: the YAML escape
    # of a backslash is written twice.
    text = _pipeline(step_name, ["echo the log of the step"]).replace("\\\\", "\\\\\\\\")
    number = world.push(text, "names")
    build = world.server.wait_build(SLUG, number, world.admin)
    step = build["stages"][0]["steps"][0]
    assert step["name"] == step_name
    [(login, _token)] = world.new_readers(1)
    http = world.session(login)
    resp = http.get(
        f"{world.server.url}/repos/{SLUG}/{number}/logs/{step['id']}/raw", timeout=DEADLINE
    )
    http.close()
    assert resp.status_code == 200
    assert "the log of the step" in resp.text
    header = resp.headers["Content-Disposition"]
    assert header.isascii() and "\n" not in header and "\r" not in header
    fallback = re.search(r'filename="([^"]*)"', header).group(1)
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", fallback), header
    encoded = re.search(r"filename\*=UTF-8''(\S+)$", header).group(1)
    assert requests.utils.unquote(encoded).startswith(f"streams-{number}-")


@pytest.mark.browser
def test_build_page_follows_the_log_by_polling_when_its_stream_is_refused(world):
    number = world.push(
        _pipeline("tick", ["for i in $(seq 1 1500); do echo tick $i; sleep 0.2; done"]), "page"
    )
    world.running_step(number)
    path = world.stream_path(number)
    [(login, reader)] = world.new_readers(1)
    socks = open_many(world, path, reader, PER_USER)  # the reader's every stream is taken
    try:
        with chromium() as browser:
            page = browser.new_page()
            log_in(page, world.server.url, login, PASSWORD)
            page.goto(f"{world.server.url}/repos/{SLUG}/{number}")
            page.wait_for_function(
                "() => document.getElementById('log-state').textContent.includes('view busy')",
                timeout=60000,
            )
            shown = page.locator("#log .ln").count()
            # Lines printed after the page opened keep arriving, through tail.json?after=.
            page.wait_for_function(
                f"() => document.querySelectorAll('#log .ln').length > {shown + 10}", timeout=60000
            )
            numbers = page.eval_on_selector_all(
                "#log .ln > span", "rows => rows.map(r => r.textContent)"
            )
            ticks = [int(t.split()[1]) for t in numbers if t.startswith("tick ")]
            assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), "no line lost or doubled"
    finally:
        close_all(socks)
        world.server.api("POST", f"/repos/{SLUG}/builds/{number}/cancel", world.admin)
    world.server.wait_build(SLUG, number, world.admin)


def test_agents_long_polls_beyond_their_places_answer_503_at_once(tmp_path):
    # One place for a waiting long-poll: a second agent cannot park a thread as well.
    server = ServerProcess(
        tmp_path / "data", embedded_agent=False, extra_env={"RUNNER_CLAIM_WAITS_MAX": "1"}
    )
    with server:
        first = server.cli("user", "agent-token", "first").strip()
        second = server.cli("user", "agent-token", "second").strip()

        def claim(token: str, wait: float) -> requests.Response:
            return requests.post(
                server.url + "/rpc/v1/claim",
                json={"timeout": wait},
                headers={"Authorization": f"Bearer {token}"},
                timeout=wait + DEADLINE,
            )

        answers: dict[str, tuple[int, float, str]] = {}

        def long_poll(token: str) -> None:
            took, resp = timed(lambda: claim(token, LONG_POLL))
            answers[token] = (resp.status_code, took, resp.headers.get("Retry-After", ""))

        polls = [threading.Thread(target=long_poll, args=(t,)) for t in (first, second)]
        for poll in polls:
            poll.start()
        time.sleep(1)
        # The API keeps its own threads meanwhile.
        assert server.api("GET", "/user", server.token()).status_code == 200
        for poll in polls:
            poll.join(60)
        refused = [a for a in answers.values() if a[0] == 503]
        assert sorted(a[0] for a in answers.values()) == [204, 503], answers
        status, took, retry_after = refused[0]
        assert took < LONG_POLL and int(retry_after) >= 1, answers  # refused, not kept waiting
        # The place is free again once the waiting long-poll has answered.
        assert claim(second, 1).status_code == 204
