"""The clone as an untrusted pipeline meets it, with a real server, its embedded agent, real git
and real Docker: a submodule on the agent's disk (`file:///etc`), on another host or reached by
a relative path out of a local repository fails the clone step with a clear line in its log;
credentials in a clone URL stay out of logs and errors; a secret cut by the 64 KiB split of a
long line is masked in the stored log."""

from __future__ import annotations

import pytest

from runner.agent.clone import CloneSource, clone_workspace
from runner.engine.base import RunId
from runner.errors import EngineError
from runner.gitmirror import Mirror
from runner.pipeline.spec import StageSpec
from runner.testing import LocalRepo, ServerProcess, git, github_push

pytestmark = [pytest.mark.docker]

WITH_SUBMODULES = """\
kind: pipeline
name: default
clone:
  submodules: true
steps:
- name: build
  image: runner-test/busybox
  commands:
  - echo should-not-run
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_client):
    with ServerProcess(tmp_path_factory.mktemp("clone") / "data", lease_seconds=60) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server):
    return server.token()


def activate(server, admin, slug: str, source: LocalRepo) -> str:
    """Activate ``slug`` cloning from ``source``; its webhook secret."""
    resp = server.api(
        "POST",
        "/repos",
        admin,
        json={"slug": slug, "forge": "github", "clone_url": source.clone_url},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["webhook_secret"]


def push(server, admin, slug: str, source: LocalRepo, sha: str, secret: str) -> dict:
    """Deliver a push of ``sha`` and wait for its build to end; the build."""
    headers, body = github_push(slug, source, sha, secret)
    resp = server.post_hook(slug, headers, body)
    assert resp.status_code < 300, resp.text
    number = server.api("GET", f"/repos/{slug}/builds", admin).json()[0]["number"]
    return server.wait_build(slug, number, admin)


def step_log(server, admin, slug: str, build: dict, name: str) -> str:
    stage = build["stages"][0]
    step = next(s for s in stage["steps"] if s["name"] == name)
    path = f"/repos/{slug}/builds/{build['number']}/logs/{stage['number']}/{step['number']}"
    return server.api("GET", path, admin).text


def commit_with_submodule(source: LocalRepo, url: str) -> str:
    """A commit whose ``.gitmodules`` declares ``lib`` at ``url`` (with a gitlink to any sha)."""
    git(source.work, "config", "-f", ".gitmodules", "submodule.lib.path", "lib")
    git(source.work, "config", "-f", ".gitmodules", "submodule.lib.url", url)
    git(source.work, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},lib")
    (source.work / "lib").mkdir(exist_ok=True)  # an unpopulated submodule: the gitlink stays
    return source.commit({".drone.yml": WITH_SUBMODULES})


@pytest.mark.parametrize(
    ("slug", "url", "said"),
    [
        ("acme/etc", "file:///etc", "submodule URL file:///etc is a local path"),
        (
            "acme/elsewhere",
            "https://other.example.com/lib.git",
            "submodule URL https://other.example.com/lib.git is on host 'other.example.com'",
        ),
        ("acme/relative", "../../../etc", "submodule URL file:///"),
    ],
)
def test_a_submodule_off_the_repositorys_host_fails_the_clone(
    server, admin, tmp_path, slug, url, said
):
    source = LocalRepo(tmp_path / "forge")
    secret = activate(server, admin, slug, source)
    build = push(server, admin, slug, source, commit_with_submodule(source, url), secret)
    assert build["status"] == "failure", build
    clone = next(s for s in build["stages"][0]["steps"] if s["name"] == "clone")
    assert clone["status"] == "failure"
    log = step_log(server, admin, slug, build, "clone")
    assert f"clone refused: {said}" in log
    assert "only a trusted repository may" in log
    assert "+ git submodule update" not in log  # refused before git saw the URL
    assert "should-not-run" not in step_log(server, admin, slug, build, "build")


def test_clone_url_credentials_stay_out_of_build_errors(server, admin):
    slug = "acme/credentials"
    resp = server.api(
        "POST",
        "/repos",
        admin,
        json={
            "slug": slug,
            "forge": "generic",
            "clone_url": "http://ci-bot:TOPSECRET@127.0.0.1:9/acme/x.git",
        },
    )
    assert resp.status_code == 201, resp.text
    hook = server.api("POST", f"/repos/{slug}/builds", admin, json={"branch": "main"})
    assert hook.status_code < 500, hook.text
    builds = server.api("GET", f"/repos/{slug}/builds", admin)
    for text in (hook.text, builds.text, server.log()):
        assert "TOPSECRET" not in text


def test_clone_log_and_errors_hide_url_credentials(tmp_path):
    url = "http://ci-bot:TOPSECRET@127.0.0.1:9/acme/x.git"
    lines: list[str] = []
    source = CloneSource(url, commit="a" * 40, cache_dir=str(tmp_path / "mirrors"))
    with pytest.raises(EngineError) as caught:
        clone_workspace(None, RunId("none"), StageSpec(name="default"), source, lines.append)
    assert "TOPSECRET" not in str(caught.value) and "ci-bot:" not in str(caught.value)
    assert lines == [f"+ fetch http://***@127.0.0.1:9/acme/x.git {'a' * 40}"]


def test_an_untrusted_export_refuses_before_fetching_and_a_trusted_one_is_let_through(tmp_path):
    source = LocalRepo(tmp_path / "forge")
    sha = commit_with_submodule(source, "https://other.example.com/lib.git")
    mirror = Mirror(tmp_path / "mirrors", source.clone_url)
    mirror.update(commit=sha)
    said: list[str] = []
    with pytest.raises(EngineError, match="only a trusted repository"):
        mirror.export(sha, tmp_path / "untrusted", submodules=True, log=said.append)
    assert said[-1].startswith("clone refused: submodule URL https://other.example.com/lib.git")
    # Trusted: the URL reaches git, which then fails to fetch it (no network here).
    said.clear()
    with pytest.raises(EngineError, match="submodule"):
        mirror.export(sha, tmp_path / "trusted", submodules=True, trusted=True, log=said.append)
    assert any(line.startswith("+ git submodule update") for line in said)


SECRET = "Sp1it-Acr0ss-The-Line-Cut"
LONG_LINE = """\
kind: pipeline
name: default
steps:
- name: print
  image: runner-test/python
  environment:
    TOKEN:
      from_secret: token
  commands:
  - python3 -c "import os, sys; sys.stdout.write('a' * 65526 + os.environ['TOKEN'] + 'b' * 50)"
  - echo "short $TOKEN line"
"""


def test_a_secret_straddling_the_64_kib_line_split_is_masked_in_the_stored_log(
    server, admin, tmp_path
):
    slug = "acme/longline"
    source = LocalRepo(tmp_path / "forge")
    secret = activate(server, admin, slug, source)
    resp = server.api(
        "POST", f"/repos/{slug}/secrets", admin, json={"name": "token", "value": SECRET}
    )
    assert resp.status_code == 201, resp.text
    build = push(server, admin, slug, source, source.commit({".drone.yml": LONG_LINE}), secret)
    assert build["status"] == "success", build
    log = step_log(server, admin, slug, build, "print")
    assert "short ****** line" in log
    joined = log.replace("\n", "")
    assert "a" * 100 + "******" + "b" * 50 in joined
    assert SECRET not in joined and SECRET[:10] not in joined and SECRET[-10:] not in joined
