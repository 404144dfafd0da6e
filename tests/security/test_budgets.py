"""Hostile pipeline files pushed to a real server (signed GitHub webhooks, a local git forge):
each over-budget file gives an `error` build whose error names the file and the limit hit, the
catastrophic regular expression is answered at once, the API keeps answering meanwhile and the
server's memory does not grow by 50 MB."""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from runner.pipeline import limits
from runner.testing import LocalRepo, ServerProcess, github_push

pytestmark = [pytest.mark.docker]

MiB = 1024 * 1024
STEP = "- name: s{i}\n  image: runner-test/busybox\n  commands: [echo {i}]\n"
HEAD = "kind: pipeline\nname: default\n"


def drone(steps: int = 1, before: str = "") -> str:
    return HEAD + before + "steps:\n" + "".join(STEP.format(i=i) for i in range(steps))


def woodpecker(when: str = "", before: str = "") -> str:
    return (
        before + "steps:\n"
        "  a:\n    image: runner-test/busybox\n    commands: [echo a]\n" + when + "  b:\n"
        "    image: runner-test/busybox\n    commands: [echo b]\n"
    )


CATASTROPHIC = '    when:\n      evaluate: \'"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" matches "^(a+)+$"\'\n'
SEVEN_AXES = "matrix:\n" + "".join(f"  A{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for i in range(7))

# name -> (file, text, limit the error must name, line the error must name or 0 for none)
HOSTILE = {
    "matrix-7-axes": (
        ".woodpecker.yml",
        woodpecker(before=SEVEN_AXES),
        f"{limits.MAX_MATRIX_COMBINATIONS} matrix combinations",
        1,
    ),
    "recursive-alias": (
        ".drone.yml",
        drone(before="x: &a [*a]\n"),
        "0 recursive aliases",
        3,
    ),
    "yaml-500-deep": (
        ".drone.yml",
        drone(before="x: " + "[" * 500 + "]" * 500 + "\n"),
        f"{limits.MAX_NESTING} levels of nested maps and lists",
        3,
    ),
    "substitution-330-deep": (
        ".drone.yml",
        drone() + "  environment:\n    X: " + "${A:-" * 330 + "x" + "}" * 330 + "\n",
        f"{limits.MAX_SUBSTITUTION_DEPTH} levels of nested ${{...}}",
        8,
    ),
    "file-20-MB": (
        ".drone.yml",
        drone() + ("# " + "x" * 1022 + "\n") * (20 * 1024),
        f"{limits.MAX_FILE_BYTES} bytes per pipeline file",
        0,
    ),
    "steps-5000": (".drone.yml", drone(5000), f"{limits.MAX_STEPS} steps per build", 3004),
    "regex-over-re2-memory": (
        ".woodpecker.yml",
        # Four backslashes in the file: substitution (envsubst v1.0.3) makes them two, the
        # expression's string literal one.
        woodpecker(
            when="    when:\n      evaluate: 'CI_COMMIT_BRANCH matches \"\\\\\\\\pL{1000}\"'\n"
        ),
        f"{limits.MAX_REGEX_MEMORY} bytes of regular expression memory",
        6,
    ),
}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def worker_pid(server: ServerProcess) -> int:
    """The gunicorn worker: it serves the API and compiles the pipelines."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
    return int(children.split()[0])


class ApiWatch:
    """Polls ``/api/v1/user`` from a thread while a hostile file is processed; every answer
    must come within the deadline of each request."""

    # Not a latency target: a frozen server never answers, while a loaded CI machine (three
    # suites, Docker and browsers on two cores) may take seconds to answer anything.
    DEADLINE = 15.0

    def __init__(self, server: ServerProcess, token: str):
        self.url = server.url + "/api/v1/user"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers: list[tuple[int, float]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    resp = http.get(self.url, headers=self.headers, timeout=self.DEADLINE)
                    self.answers.append((resp.status_code, time.monotonic() - started))
                except requests.RequestException as exc:
                    self.failures.append(repr(exc))
                self._stop.wait(0.05)

    def __enter__(self) -> ApiWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.DEADLINE + 5)

    def slowest(self) -> float:
        return max((took for _, took in self.answers), default=0.0)

    def assert_answered(self) -> None:
        assert not self.failures, f"the API did not answer within {self.DEADLINE}s: {self.failures}"
        assert self.answers, "no answer at all while the file was processed"
        assert {status for status, _ in self.answers} == {200}, self.answers


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_client):
    proc = ServerProcess(
        tmp_path_factory.mktemp("budgets") / "data", lease_seconds=60, capacity=1
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def token(server):
    return server.token("admin")


@pytest.fixture(scope="module")
def baseline_rss(server, token, tmp_path_factory):
    """The worker's memory once it has served an ordinary error build (every module that
    reads pipelines is loaded then)."""
    root = tmp_path_factory.mktemp("warmup")
    build = push(server, token, root, ".drone.yml", HEAD + "steps: [\n")
    assert build["status"] == "error", build
    return rss_bytes(worker_pid(server))


def push(server: ServerProcess, token: str, root: Path, name: str, text: str) -> dict:
    """A new repository whose only file is ``name``, one signed push webhook of it; the build
    the webhook made (the webhook must be accepted)."""
    slug = f"acme/b{uuid.uuid4().hex[:8]}"
    repo = LocalRepo(root / slug.split("/")[1])
    resp = server.api(
        "POST", "/repos", token, json={"slug": slug, "forge": "github", "clone_url": repo.clone_url}
    )
    assert resp.status_code == 201, resp.text
    sha = repo.commit({name: text})
    headers, body = github_push(slug, repo, sha, resp.json()["webhook_secret"])
    answer = server.post_hook(slug, headers, body)
    assert answer.status_code in (200, 201), answer.text
    assert "Traceback" not in answer.text
    builds = server.api("GET", f"/repos/{slug}/builds", token).json()
    assert len(builds) == 1, builds
    return server.build(slug, builds[0]["number"], token) | {"slug": slug}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_over_budget_file_gives_an_error_build_naming_the_limit(
    server, token, baseline_rss, tmp_path, case
):
    name, text, limit, line = HOSTILE[case]
    with ApiWatch(server, token) as watch:
        build = push(server, token, tmp_path, name, text)
    watch.assert_answered()
    assert build["status"] == "error", build
    assert build["stages"] == []
    error = build["error"]
    assert f"over the limit of {limit}" in error, error
    where = re.escape(name) + (f":{line}:" if line else ":")
    assert re.match(where, error), error
    assert "Traceback" not in error
    grown = rss_bytes(worker_pid(server)) - baseline_rss
    print(f"{case}: server +{grown / MiB:.1f} MB, slowest API answer {watch.slowest():.3f}s")
    assert grown < 50 * MiB, f"the server grew by {grown / MiB:.0f} MB"


def test_a_catastrophic_regex_is_evaluated_at_once_and_the_build_runs(
    server, token, baseline_rss, tmp_path
):
    # Woodpecker's `matches` is Go's RE2: no match here, so step "a" is left out and "b" runs.
    with ApiWatch(server, token) as watch:
        build = push(server, token, tmp_path, ".woodpecker.yml", woodpecker(when=CATASTROPHIC))
    watch.assert_answered()
    assert build["status"] != "error", build
    steps = [step["name"] for step in build["stages"][0]["steps"]]
    assert "b" in steps and "a" not in steps, steps
    done = server.wait_build(build["slug"], build["number"], token)
    assert done["status"] == "success", done
    grown = rss_bytes(worker_pid(server)) - baseline_rss
    assert grown < 50 * MiB, f"the server grew by {grown / MiB:.0f} MB"
