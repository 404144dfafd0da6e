"""The docker plugin builds an image from the workspace and pushes it to a real registry."""

from __future__ import annotations

import base64
import tarfile
import uuid

import docker_plugin
import docker_tags
import pytest

from tests.plugins.conftest import BUSYBOX, TEST_LABEL

PASSWORD = "s3cret-Pa55word"


def test_semver_tags_follow_plugins_docker():
    assert docker_tags.semver_tags("v1.2.3") == ["1.2.3", "1.2", "1"]
    assert docker_tags.semver_tags("0.4.1") == ["0.4.1", "0.4"]
    assert docker_tags.semver_tags("v1.2.3-rc.1") == ["1.2.3-rc.1"]
    assert docker_tags.semver_tags("release-7") is None
    assert docker_tags.auto_tags("push", "", "main", "main") == ["latest"]
    assert docker_tags.auto_tags("push", "", "feature/x", "main") is None
    assert docker_tags.auto_tags("tag", "nightly/x", "", "main") == ["nightly-x"]


def test_tag_scheme_names_version_commit_and_config_revision():
    sha = "a64aded0123456789abcdef0123456789abcdef0"
    scheme = "semver-commit-revision"
    assert docker_tags.scheme_tag(scheme, "v1.2.0", sha, "7") == "1.2.0-a64aded-r7"
    assert docker_tags.scheme_tag(scheme, "v2.0.0-rc.1+b5", sha, "12") == "2.0.0-rc.1-a64aded-r12"
    assert docker_tags.scheme_tag(scheme, "nightly/x", sha, "3") == "nightly-x-a64aded-r3"
    assert docker_tags.scheme_tag(scheme, "", sha, "7") == "a64aded-r7"
    with pytest.raises(ValueError, match="unknown tag_scheme 'semver'"):
        docker_tags.scheme_tag("semver", "v1.2.0", sha, "7")
    with pytest.raises(ValueError, match="CI_CONFIG_REVISION"):
        docker_tags.scheme_tag(scheme, "v1.2.0", sha, "")
    with pytest.raises(ValueError, match="DRONE_COMMIT_SHA"):
        docker_tags.scheme_tag(scheme, "v1.2.0", "", "7")


def test_tag_scheme_comes_first_and_labels_the_image(plugin_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = dict(
        plugin_env,
        CI_CONFIG_REVISION="7",
        PLUGIN_REPO="registry.local:5000/team/app",
        PLUGIN_TAG_SCHEME="semver-commit-revision",
    )
    alone = docker_plugin.make_plan(docker_plugin.Settings(env))
    assert alone.tags == ["1.2.3-abc1234-r7"]  # no `latest` unless asked for
    assert alone.labels["org.opencontainers.image.version"] == "1.2.3-abc1234-r7"
    assert alone.labels["io.pipeline-runner.config-revision"] == "7"
    assert alone.labels["org.opencontainers.image.url"] == plugin_env["DRONE_BUILD_LINK"]
    with_auto = dict(env, PLUGIN_AUTO_TAG="true", PLUGIN_TAG_COMMIT="true")
    plan = docker_plugin.make_plan(docker_plugin.Settings(with_auto))
    assert plan.tags == ["1.2.3-abc1234-r7", "1.2.3", "1.2", "1", "1.2.3-abc1234"]
    # auto_tag keeps its rule: a feature branch publishes nothing, scheme or not.
    feature = dict(with_auto, DRONE_BUILD_EVENT="push", DRONE_TAG="", DRONE_BRANCH="feature/x")
    assert docker_plugin.make_plan(docker_plugin.Settings(feature)) is None


def test_tag_scheme_without_a_revision_fails_in_one_line(plugin_env, in_process):
    env = dict(plugin_env, PLUGIN_REPO="team/app", PLUGIN_TAG_SCHEME="semver-commit-revision")
    code, out = in_process(docker_plugin.main, env)
    assert code == 1
    assert out.strip().count("\n") == 0
    assert "error: tag_scheme semver-commit-revision needs" in out and "CI_CONFIG_REVISION" in out


def test_plan_reads_drone_settings(plugin_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = dict(
        plugin_env,
        PLUGIN_REPO="team/app",
        PLUGIN_REGISTRY="registry.local:5000",
        PLUGIN_AUTO_TAG="true",
        PLUGIN_TAG_COMMIT="true",
        PLUGIN_BUILD_ARGS="A=1,B=two",
        PLUGIN_LABELS='{"team": "core"}',
        PLUGIN_CACHE_FROM="team/app:latest",
        PLUGIN_USERNAME="ci",
        PLUGIN_PASSWORD=PASSWORD,
    )
    plan = docker_plugin.make_plan(docker_plugin.Settings(env))
    assert plan.image == "registry.local:5000/team/app"
    assert plan.tags == ["1.2.3", "1.2", "1", "1.2.3-abc1234"]
    assert plan.build_args == {"A": "1", "B": "two"}
    assert plan.labels["team"] == "core"
    assert plan.labels["org.opencontainers.image.revision"] == plugin_env["DRONE_COMMIT_SHA"]
    assert plan.cache_from == ["team/app:latest"]


def test_auto_tag_on_a_feature_branch_publishes_nothing(plugin_env, in_process):
    env = dict(plugin_env, DRONE_BUILD_EVENT="push", DRONE_TAG="", DRONE_BRANCH="feature/x")
    env.update(PLUGIN_REPO="team/app", PLUGIN_AUTO_TAG="true")
    code, out = in_process(docker_plugin.main, env)
    assert code == 0
    assert "skipping" in out


def test_missing_repo_is_one_line(plugin_env, in_process):
    code, out = in_process(docker_plugin.main, dict(plugin_env, PLUGIN_PASSWORD=PASSWORD))
    assert code == 1
    assert out.strip().count("\n") == 0
    assert "missing required setting 'repo'" in out and "PLUGIN_REPO" in out


def _workspace(tmp_path, marker: str):
    ws = tmp_path / "ws"
    (ws / "app").mkdir(parents=True)
    (ws / "app" / "hello.txt").write_text(marker + "\n")
    (ws / "app" / "ignored.log").write_text("must not be sent\n")
    (ws / ".dockerignore").write_text("*.log\napp/*.log\n")
    (ws / "Dockerfile").write_text(
        f'FROM {BUSYBOX}\nARG GREETING\nCOPY app/ /app/\nRUN echo "$GREETING" > /app/greeting\n'
    )
    return ws


def _pull_and_run(docker_client, registry, repo, tag, auth=None):
    ref = f"{registry.address}/{repo}:{tag}"
    docker_client.images.pull(f"{registry.address}/{repo}", tag=tag, auth_config=auth)
    try:
        image = docker_client.images.get(ref)
        out = docker_client.containers.run(
            ref,
            ["sh", "-c", "cat /app/hello.txt /app/greeting; ls /app"],
            labels={TEST_LABEL: "1"},
            remove=True,
        ).decode()
        return image, out
    finally:
        docker_client.images.remove(ref, force=True)


@pytest.mark.docker
@pytest.mark.parametrize("with_auth", [False, True], ids=["anonymous", "htpasswd"])
def test_builds_and_pushes_to_a_real_registry(
    docker_client, plugin_images, run_plugin, start_registry, plugin_env, tmp_path, with_auth
):
    registry = start_registry("ci", PASSWORD) if with_auth else start_registry()
    marker = uuid.uuid4().hex
    ws = _workspace(tmp_path, marker)
    env = dict(
        plugin_env,
        PLUGIN_REPO=f"{registry.address}/team/app",
        PLUGIN_AUTO_TAG="true",
        PLUGIN_TAG_COMMIT="true",
        PLUGIN_BUILD_ARGS="GREETING=hello from the build",
        PLUGIN_LABELS=f"{TEST_LABEL}=1",
        # a rerun after a swept container must not reuse layers the engine is still removing
        PLUGIN_NO_CACHE="true",
    )
    if with_auth:
        env.update(PLUGIN_USERNAME="ci", PLUGIN_PASSWORD=PASSWORD)
    result = run_plugin(plugin_images["docker"], env, workspace=ws, socket_mount=True)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "1.2.3, 1.2, 1, 1.2.3-abc1234" in result.output
    auth = {"username": "ci", "password": PASSWORD} if with_auth else None
    for tag in ("1.2.3", "1.2", "1", "1.2.3-abc1234"):
        image, out = _pull_and_run(docker_client, registry, "team/app", tag, auth)
        assert marker in out and "hello from the build" in out
        assert "ignored.log" not in out  # .dockerignore honoured
        assert image.labels["org.opencontainers.image.revision"] == plugin_env["DRONE_COMMIT_SHA"]
    # purge (the default) removed the local tags the plugin made
    assert not docker_client.images.list(name=f"{registry.address}/team/app")


@pytest.mark.docker
def test_tag_scheme_pushes_the_version_tag_with_its_labels(
    docker_client, plugin_images, run_plugin, start_registry, plugin_env, tmp_path
):
    registry = start_registry()
    marker = uuid.uuid4().hex
    ws = _workspace(tmp_path, marker)
    env = dict(
        plugin_env,
        DRONE_TAG="v1.2.0",
        CI_CONFIG_REVISION="7",
        DRONE_CONFIG_REVISION="7",
        PLUGIN_REPO=f"{registry.address}/team/app",
        PLUGIN_TAG_SCHEME="semver-commit-revision",
        PLUGIN_LABELS=f"{TEST_LABEL}=1",
        PLUGIN_NO_CACHE="true",
    )
    result = run_plugin(plugin_images["docker"], env, workspace=ws, socket_mount=True)
    assert result.exit_code == 0, result.output
    assert "tags: 1.2.0-abc1234-r7\n" in result.output
    image, out = _pull_and_run(docker_client, registry, "team/app", "1.2.0-abc1234-r7")
    assert marker in out
    assert image.labels["org.opencontainers.image.revision"] == plugin_env["DRONE_COMMIT_SHA"]
    assert image.labels["org.opencontainers.image.version"] == "1.2.0-abc1234-r7"
    assert image.labels["org.opencontainers.image.url"] == plugin_env["DRONE_BUILD_LINK"]
    assert image.labels["org.opencontainers.image.source"] == plugin_env["DRONE_REPO_LINK"]
    assert image.labels["io.pipeline-runner.config-revision"] == "7"


@pytest.mark.docker
def test_wrong_password_fails_with_a_clear_message(
    docker_client, plugin_images, run_plugin, start_registry, plugin_env, tmp_path
):
    registry = start_registry("ci", PASSWORD)
    ws = _workspace(tmp_path, "x")
    env = dict(
        plugin_env,
        PLUGIN_REPO=f"{registry.address}/team/app",
        PLUGIN_TAGS="1.0",
        PLUGIN_USERNAME="ci",
        PLUGIN_PASSWORD="wrong-" + PASSWORD,
    )
    result = run_plugin(plugin_images["docker"], env, workspace=ws, socket_mount=True)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"error: login to registry {registry.address} as 'ci' failed")
    assert "password" in last
    assert PASSWORD not in result.output
    assert base64.b64encode(PASSWORD.encode()).decode() not in result.output


@pytest.mark.docker
def test_failing_dockerfile_fails_the_step(
    docker_client, plugin_images, run_plugin, start_registry, plugin_env, tmp_path
):
    registry = start_registry()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN false\n")
    env = dict(plugin_env, PLUGIN_REPO=f"{registry.address}/team/app", PLUGIN_TAGS="1.0")
    result = run_plugin(plugin_images["docker"], env, workspace=ws, socket_mount=True)
    assert result.exit_code == 1
    assert "error: image build failed" in result.output


@pytest.mark.parametrize(
    "patterns, path, excluded",
    [
        (["*.log"], "app.log", True),
        (["*.log"], "app/x.log", False),  # * stays in the top folder, as in Docker
        (["**/*.log"], "app/deep/x.log", True),
        (["node_modules"], "node_modules/a/b.js", True),
        (["docs", "!docs/keep.md"], "docs/keep.md", False),
        (["docs", "!docs/keep.md"], "docs/other.md", True),
        (["build/?.txt"], "build/a.txt", True),
    ],
)
def test_dockerignore_patterns_match_like_docker(patterns, path, excluded, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / path).parent.mkdir(parents=True, exist_ok=True)
    (ctx / path).write_text("x")
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    (ctx / ".dockerignore").write_text("\n".join(["# a comment", *patterns]) + "\n")
    archive, inner, size = docker_plugin.context_archive(str(ctx), str(ctx / "Dockerfile"))
    with archive, tarfile.open(fileobj=archive) as tar:
        names = tar.getnames()
    assert (inner, "Dockerfile" in names) == ("Dockerfile", True)
    assert (path not in names) is excluded


def test_a_dockerfile_outside_the_context_is_sent_with_it(tmp_path):
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "app.txt").write_text("x")
    (tmp_path / "build.Dockerfile").write_text("FROM scratch\nCOPY app.txt /\n")
    archive, inner, size = docker_plugin.context_archive(
        str(tmp_path / "ctx"), str(tmp_path / "build.Dockerfile")
    )
    with archive, tarfile.open(fileobj=archive) as tar:
        assert tar.extractfile(inner).read() == b"FROM scratch\nCOPY app.txt /\n"
        assert "app.txt" in tar.getnames()
    assert size > 0


def test_missing_socket_is_one_line_that_says_how_to_get_it(plugin_env, in_process, tmp_path):
    env = dict(plugin_env, PLUGIN_REPO="team/app", PLUGIN_TAGS="1.0")
    env["DOCKER_HOST"] = f"unix://{tmp_path}/docker.sock"
    code, out = in_process(docker_plugin.main, env)
    assert code == 1
    last = out.strip().splitlines()[-1]
    assert last == (
        f"error: Docker socket {tmp_path}/docker.sock not found: the step needs the host "
        "engine's socket mounted (an image on the agent's privileged-plugin list, or a "
        "trusted repository)"
    )
