"""The same pipeline file at the same commit gives the same build on SQLite and on PostgreSQL:
statuses, stages, steps and complete logs."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import ServerProcess, github_push

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

PIPELINE = """\
kind: pipeline
name: build
steps:
- name: compile
  image: runner-test/busybox
  commands:
  - echo "compiling $DRONE_COMMIT_SHA on $DRONE_BRANCH"
  - echo artefact > out.txt
- name: test
  image: runner-test/busybox
  commands:
  - cat out.txt
  - seq 1 5
---
kind: pipeline
name: package
depends_on: [build]
steps:
- name: pack
  image: runner-test/busybox
  commands:
  - echo "packing build $DRONE_BUILD_NUMBER"
"""


def _run(server: ServerProcess, local_repo, sha: str) -> dict:
    token = server.token()
    slug = "acme/portable"
    repo = add_repo(server, token, slug, local_repo)
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    resp = requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30)
    assert resp.status_code in (200, 201), resp.text
    build = server.wait_build(slug, 1, token)
    shape = {
        "status": build["status"],
        "event": build["event"],
        "commit": build["commit"],
        "branch": build["branch"],
        "stages": [],
    }
    for stage in build["stages"]:
        steps = []
        for step in stage["steps"]:
            log = server.api(
                "GET", f"/repos/{slug}/builds/1/logs/{stage['number']}/{step['number']}", token
            ).text
            if step["name"] == "clone":
                log = ""  # names the mirror path, which differs per server
            steps.append((step["name"], step["status"], step["exit_code"], log))
        shape["stages"].append((stage["name"], stage["status"], stage["depends_on"], steps))
    return shape


def test_same_build_on_sqlite_and_postgresql(tmp_path, docker_client, postgres_url, local_repo):
    sha = local_repo.commit({".drone.yml": PIPELINE}, message="two stages")
    results = {}
    for name, url in (("sqlite", ""), ("postgresql", postgres_url)):
        server = ServerProcess(tmp_path / name, database_url=url).start()
        try:
            results[name] = _run(server, local_repo, sha)
        finally:
            server.stop()
    assert results["sqlite"]["status"] == "success", results["sqlite"]
    assert results["sqlite"] == results["postgresql"]
    logs = {step[0]: step[3] for stage in results["sqlite"]["stages"] for step in stage[3]}
    assert logs["test"] == "+ cat out.txt\nartefact\n+ seq 1 5\n1\n2\n3\n4\n5\n"
    assert logs["pack"] == '+ echo "packing build $DRONE_BUILD_NUMBER"\npacking build 1\n'
