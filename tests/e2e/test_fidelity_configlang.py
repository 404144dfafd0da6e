"""A repository whose config path is ``.drone.star`` builds on a real server as on Drone: the
push webhook's build runs the pipelines the file's ``main(ctx)`` returns for that push, in
Docker; a file that fails to evaluate gives an ``error`` build naming the file and line; and
``runner exec`` runs a ``.drone.jsonnet`` file.

Drone (drone/drone ``plugin/converter/starlark.go`` ``Convert``) picks the Starlark converter
by the extension of the repository's config path and hands ``main`` the build and repository
(``plugin/converter/starlark/args.go`` ``createArgs``); Jsonnet gets them as external
variables (``plugin/converter/jsonnet/jsonnet.go`` ``mapBuild``/``mapRepo``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

FILES = Path(__file__).resolve().parents[1] / "pipeline" / "fidelity" / "configlang"
TEST_LABEL = "pipeline-runner.test"


def _add_repo(server, token: str, slug: str, clone_url: str, pipeline_path: str) -> dict:
    resp = server.api(
        "POST",
        "/repos",
        token,
        json={
            "slug": slug,
            "forge": "github",
            "clone_url": clone_url,
            "pipeline_path": pipeline_path,
        },
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def _push(server, token: str, slug: str, local_repo, repo: dict, files: dict[str, str]) -> dict:
    sha = local_repo.commit(files, message="pipeline as starlark", branch="dev")
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"], branch="dev")
    resp = requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=60)
    assert resp.status_code in (200, 201), resp.text
    builds = server.api("GET", f"/repos/{slug}/builds", token).json()
    assert len(builds) == 1, builds
    return server.wait_build(slug, builds[0]["number"], token)


def test_a_drone_star_config_path_builds_what_main_returns_for_the_push(
    server, admin_token, local_repo
):
    slug = "acme/star-app"
    repo = _add_repo(server, admin_token, slug, local_repo.clone_url, ".drone.star")
    star = (FILES / "two_pipelines.star").read_text(encoding="utf-8")
    build = _push(server, admin_token, slug, local_repo, repo, {".drone.star": star})

    assert build["status"] == "success", build
    # A push to dev: main returns the test pipeline only (release is for tags).
    assert [stage["name"] for stage in build["stages"]] == ["test"]
    (step,) = [s for s in build["stages"][0]["steps"] if s["name"] == "test"]
    log = server.api(
        "GET", f"/repos/{slug}/builds/{build['number']}/logs/1/{step['number']}", admin_token
    ).text
    assert f"testing {slug} on dev" in log
    assert f"commit {build['commit'][:7]} of star-app" in log


def test_a_drone_star_that_fails_gives_an_error_build_with_file_and_line(
    server, admin_token, local_repo
):
    slug = "acme/star-broken"
    repo = _add_repo(server, admin_token, slug, local_repo.clone_url, ".drone.star")
    broken = (FILES / "runtime_error.star").read_text(encoding="utf-8")
    build = _push(server, admin_token, slug, local_repo, repo, {".drone.star": broken})

    assert build["status"] == "error"
    assert build["stages"] == []
    assert ".drone.star:6" in build["error"], build["error"]
    assert "unknown binary op: int + string" in build["error"]


def test_runner_exec_runs_a_jsonnet_file(tmp_path, docker_client, run_id):
    project = tmp_path / "project"
    project.mkdir()
    source = (FILES / "two_pipelines.jsonnet").read_text(encoding="utf-8")
    (project / ".drone.jsonnet").write_text(source, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "exec", ".drone.jsonnet", "--event", "tag"]
        + ["--tag", "v2.0.0"],
        cwd=project,
        env={
            **os.environ,
            "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
            "NO_COLOR": "1",
            "RUNNER_DATA_DIR": str(tmp_path / "data"),
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logs = [line.split("] ", 1)[1] for line in proc.stdout.splitlines() if "] " in line]
    assert "testing local/project on v2.0.0" in logs  # a tag: ctx's branch is the tag
    assert "releasing refs/tags/v2.0.0" in logs
