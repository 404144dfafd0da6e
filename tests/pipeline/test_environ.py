"""Step variables: the Drone and Woodpecker sets, semver of tags, event names, stage and step."""

from runner.pipeline.environ import build_environment, semver_variables
from runner.pipeline.spec import BuildContext, StageSpec, StepSpec

CTX = BuildContext(
    repo="acme/app",
    event="tag",
    branch="main",
    tag="v1.4.0-rc.1+build.5",
    commit="0123456789abcdef0123456789abcdef01234567",
    server_url="https://ci.example.com",
    build_number=7,
)


def test_semver_of_a_tag():
    env = semver_variables("v1.4.0-rc.1+build.5")
    assert env["DRONE_SEMVER"] == "1.4.0-rc.1+build.5"
    assert (env["DRONE_SEMVER_MAJOR"], env["DRONE_SEMVER_MINOR"], env["DRONE_SEMVER_PATCH"]) == (
        "1",
        "4",
        "0",
    )
    assert env["DRONE_SEMVER_PRERELEASE"] == "rc.1" and env["DRONE_SEMVER_SHORT"] == "1.4.0"
    assert "DRONE_SEMVER_ERROR" in semver_variables("release-7")
    assert semver_variables("") == {}


def test_build_level_variables_of_both_sets():
    env = build_environment(CTX)
    assert env["CI"] == "true" and env["DRONE_REPO_NAME"] == "app"
    assert env["DRONE_TAG"] == env["CI_COMMIT_TAG"] == "v1.4.0-rc.1+build.5"
    assert env["DRONE_COMMIT_REF"] == env["CI_COMMIT_REF"] == "refs/tags/v1.4.0-rc.1+build.5"
    # The build's page in the web UI (/repos/<owner>/<name>/<n>); the old link had no page.
    assert env["DRONE_BUILD_LINK"] == "https://ci.example.com/repos/acme/app/7"
    assert env["DRONE_SYSTEM_HOST"] == "ci.example.com"
    assert "DRONE_STAGE_NAME" not in env and "DRONE_STEP_NAME" not in env


def test_config_revision_in_both_sets():
    env = build_environment(BuildContext(config_revision=7))
    assert env["CI_CONFIG_REVISION"] == env["DRONE_CONFIG_REVISION"] == "7"
    # A build the server did not number (a pull request's new file, runner exec) says 0.
    assert build_environment(BuildContext())["CI_CONFIG_REVISION"] == "0"


def test_woodpecker_event_names():
    promote = BuildContext(event="promote", target="production")
    env = build_environment(promote)
    assert env["DRONE_BUILD_EVENT"] == "promote" and env["CI_PIPELINE_EVENT"] == "deployment"
    assert env["DRONE_DEPLOY_TO"] == env["CI_PIPELINE_DEPLOY_TARGET"] == "production"
    assert build_environment(BuildContext(event="custom"))["CI_PIPELINE_EVENT"] == "manual"


def test_stage_and_step_variables():
    stage = StageSpec(name="test", number=2, workspace="/go/src/app", matrix={"GO": "1.22"})
    env = build_environment(CTX, stage, StepSpec(name="unit", image="golang"), step_number=3)
    assert env["DRONE_STAGE_NAME"] == env["CI_WORKFLOW_NAME"] == "test"
    assert env["DRONE_STAGE_NUMBER"] == "2"
    assert env["DRONE_WORKSPACE"] == env["CI_WORKSPACE"] == "/go/src/app"
    assert env["DRONE_STEP_NAME"] == env["CI_STEP_NAME"] == "unit"
    assert env["DRONE_STEP_NUMBER"] == "3"
    assert env["GO"] == "1.22"
