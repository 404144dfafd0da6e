"""The Triggerer against a real bare git repository (file://) and real SQLite and PostgreSQL:
pipeline lookup, skip rules, error builds, environments, manual, restart, promote, numbering
(reserved before compiling, once per build, distinct across two servers on one database)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from runner.core import BLOCKED, ERROR, PENDING, SUCCESS
from runner.errors import NotFound
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext
from runner.server.services import Services
from runner.server.status import status_reporter
from runner.server.trigger import BuildSkipped, NothingToDeploy, Triggerer
from runner.settings import load_settings
from runner.store import Database, Stores

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}

SIMPLE = """\
kind: pipeline
type: docker
name: default
steps:
  - name: test
    image: runner-test/busybox
    commands:
      - echo build ${DRONE_BUILD_NUMBER}
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


class Origin:
    """A bare repository (the "forge") and a work tree that commits and pushes to it."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.bare = root / "origin.git"
        self.work = root / "work"
        git(root, "init", "--quiet", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "--quiet", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        """Write ``files``, commit them on ``branch`` and push; the new commit's sha."""
        current = git(self.work, "branch", "--show-current")
        if current != branch:
            known = git(self.work, "branch", "--list", branch)
            git(self.work, "checkout", "--quiet", *([] if known else ["-b"]), branch)
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        git(self.work, "push", "--quiet", "origin", branch)
        return git(self.work, "rev-parse", "HEAD")

    def pull_request(self, number: int, files: dict[str, str], message: str) -> str:
        """A commit reachable only from ``refs/pull/<number>/head``, like a fork's PR."""
        git(self.work, "checkout", "--quiet", "-b", f"pr-{number}")
        for name, text in files.items():
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "-m", message)
        git(self.work, "push", "--quiet", "origin", f"HEAD:refs/pull/{number}/head")
        sha = git(self.work, "rev-parse", "HEAD")
        git(self.work, "checkout", "--quiet", "main")
        return sha

    def tag(self, name: str) -> str:
        git(self.work, "tag", name)
        git(self.work, "push", "--quiet", "origin", name)
        return git(self.work, "rev-parse", "HEAD")


def push_event(sha: str, branch: str = "main", message: str = "change") -> BuildContext:
    return BuildContext(
        event="push",
        ref=f"refs/heads/{branch}",
        branch=branch,
        commit=sha,
        message=message,
        author="ada",
        sender="ada",
        delivery_id="",
    )


def make_services(tmp_path: Path, url: str = "") -> Services:
    """Services on a fresh database (SQLite in ``tmp_path`` unless ``url``), no background."""
    settings = load_settings(
        {"data_dir": str(tmp_path / "data"), "server_url": "http://ci.example.com"}, environ={}
    )
    db = Database(url or settings.effective_database_url())
    db.migrate()
    services = Services(settings=settings, db=db, stores=Stores(db, settings), livelog=None)
    services.triggerer = Triggerer(services)
    return services


@pytest.fixture
def origin(tmp_path):
    return Origin(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request, tmp_path):
    """Services with a real triggerer on SQLite, then on PostgreSQL."""
    url = request.getfixturevalue("postgres_migrated_url") if request.param == "postgres" else ""
    services = make_services(tmp_path, url)
    yield services
    close_services(services)


@pytest.fixture
def sqlite_hub(tmp_path):
    services = make_services(tmp_path)
    yield services
    close_services(services)


def close_services(services: Services) -> None:
    """Let the commit status thread finish before the database closes."""
    status_reporter(services).stop()
    services.db.dispose()


def add_repo(hub, origin, **fields):
    return hub.stores.repos.create("acme/app", forge="github", clone_url=origin.url, **fields)


def test_push_builds_the_pipeline_at_that_commit(hub, origin):
    sha = origin.commit({".drone.yml": SIMPLE, "main.go": "package main\n"}, "Add pipeline")
    repo = add_repo(hub, origin)
    build = hub.triggerer.trigger(repo, push_event(sha))
    assert build.status == PENDING
    assert build.number == 1 and build.commit == sha and build.branch == "main"
    assert [s.name for s in build.stages] == ["default"]
    assert [step.name for step in build.stages[0].steps] == ["clone", "test"]
    spec = build.stages[0].spec
    assert spec.repo == "acme/app"
    assert build.context["build_number"] == 1 and build.context["commit"] == sha
    stored = hub.stores.builds.get(build.id)
    assert stored.stages[0].steps[1].name == "test"


def test_numbers_in_the_compiled_spec_follow_the_build_numbers(hub, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "one")
    repo = add_repo(hub, origin)
    first = hub.triggerer.trigger(repo, push_event(sha))
    second = hub.triggerer.trigger(repo, push_event(sha))
    assert (first.number, second.number) == (1, 2)
    for build in (first, second):
        test_step = build.stages[0].spec.steps[-1]
        assert test_step.environment["DRONE_BUILD_NUMBER"] == str(build.number)


def test_syntax_error_gives_an_error_build_with_file_line_and_reason(hub, origin):
    broken = "kind: pipeline\nname: default\nsteps:\n  - name: test\n    image: [unclosed\n"
    sha = origin.commit({".drone.yml": broken}, "Break the pipeline")
    repo = add_repo(hub, origin)
    build = hub.triggerer.trigger(repo, push_event(sha))
    assert build.status == ERROR
    assert build.stages == []
    assert build.error.startswith(".drone.yml:6: error: invalid YAML")
    assert hub.stores.builds.get(build.id).error == build.error


def test_lint_errors_are_all_listed_and_privileges_need_trust(hub, origin):
    privileged = "  - name: docker\n    image: docker:cli\n    privileged: true\n"
    text = SIMPLE.replace("    image: runner-test/busybox\n", "") + privileged + privileged
    sha = origin.commit({".drone.yml": text}, "three mistakes")
    repo = add_repo(hub, origin)
    build = hub.triggerer.trigger(repo, push_event(sha))
    assert build.status == ERROR
    lines = build.error.splitlines()
    assert any(".drone.yml:5" in line and "has no image" in line for line in lines)
    assert any("duplicate step name" in line for line in lines)
    # The trust rule judges the steps that run for the event: once the file compiles.
    sha = origin.commit({".drone.yml": SIMPLE + privileged}, "one mistake left")
    build = hub.triggerer.trigger(repo, push_event(sha))
    assert build.status == ERROR
    assert ".drone.yml:" in build.error
    assert "privileged mode" in build.error and "trusted" in build.error


def test_missing_pipeline_file_gives_an_error_build(hub, origin):
    sha = origin.commit({"README.md": "hello\n"}, "No pipeline yet")
    build = hub.triggerer.trigger(add_repo(hub, origin), push_event(sha))
    assert build.status == ERROR
    assert "no pipeline file" in build.error and ".drone.yml" in build.error


@pytest.mark.parametrize("marker", ["[skip ci]", "[CI SKIP]"])
def test_skip_ci_in_the_message_creates_no_build(sqlite_hub, origin, marker):
    sha = origin.commit({".drone.yml": SIMPLE}, f"Docs only {marker}")
    repo = add_repo(sqlite_hub, origin)
    with pytest.raises(BuildSkipped, match="commit message"):
        sqlite_hub.triggerer.trigger(repo, push_event(sha, message=f"Docs only {marker}"))
    assert sqlite_hub.stores.builds.page_of_repo(repo.id) == []


def test_skip_ci_does_not_apply_to_tags(sqlite_hub, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Release [skip ci]")
    origin.tag("v1.0.0")
    event = BuildContext(
        event="tag",
        ref="refs/tags/v1.0.0",
        branch="",
        tag="v1.0.0",
        commit=sha,
        message="Release [skip ci]",
    )
    build = sqlite_hub.triggerer.trigger(add_repo(sqlite_hub, origin), event)
    assert build.event == "tag" and build.tag == "v1.0.0"
    assert build.context["tag"] == "v1.0.0"


def test_no_matching_pipeline_is_skipped_with_the_stage_names(sqlite_hub, origin):
    text = SIMPLE + "trigger:\n  branch:\n    - main\n"
    sha = origin.commit({".drone.yml": text}, "feature work", branch="feature")
    repo = add_repo(sqlite_hub, origin)
    with pytest.raises(BuildSkipped, match="default"):
        sqlite_hub.triggerer.trigger(repo, push_event(sha, branch="feature"))


def test_woodpecker_folder_gives_one_stage_per_file(sqlite_hub, origin):
    build_file = "steps:\n  - name: compile\n    image: runner-test/busybox\n    commands: [make]\n"
    lint_file = "steps:\n  - name: vet\n    image: runner-test/busybox\n    commands: [vet]\n"
    sha = origin.commit(
        {".woodpecker/build.yml": build_file, ".woodpecker/lint.yaml": lint_file}, "wp"
    )
    build = sqlite_hub.triggerer.trigger(add_repo(sqlite_hub, origin), push_event(sha))
    assert sorted(s.name for s in build.stages) == ["build", "lint"]


def test_configured_pipeline_path_wins(sqlite_hub, origin):
    sha = origin.commit({".drone.yml": "not: [valid", "ci/pipeline.yml": SIMPLE}, "custom path")
    repo = add_repo(sqlite_hub, origin, pipeline_path="ci/pipeline.yml")
    build = sqlite_hub.triggerer.trigger(repo, push_event(sha))
    assert build.status == PENDING


def test_manual_build_resolves_the_branch_tip_and_reads_the_commit(hub, origin):
    origin.commit({".drone.yml": SIMPLE}, "first")
    tip = origin.commit({"a.txt": "a"}, "Second commit\n\nwith a body")
    repo = add_repo(hub, origin)
    build = hub.triggerer.manual(repo, sender="admin", params={"DEPLOY": "yes"})
    assert build.event == "custom" and build.commit == tip
    assert build.message.startswith("Second commit")
    assert build.author == "Ada Lovelace"
    assert build.sender == "admin"
    with pytest.raises(NotFound):
        hub.triggerer.manual(repo, branch="no-such-branch")


def test_a_commit_that_cannot_be_fetched_gives_an_error_build_for_a_webhook(sqlite_hub, origin):
    origin.commit({".drone.yml": SIMPLE}, "first")
    repo = add_repo(sqlite_hub, origin)
    build = sqlite_hub.triggerer.trigger(repo, push_event("f" * 40))
    assert build.status == ERROR and "not found" in build.error


def test_restart_reads_the_same_commit_again_with_a_new_number(hub, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "first")
    repo = add_repo(hub, origin)
    first = hub.triggerer.trigger(repo, push_event(sha))
    again = hub.triggerer.restart(repo, first, sender="bob")
    assert again.number == 2 and again.parent == 1
    assert again.commit == sha and again.event == "push" and again.sender == "bob"
    assert [s.name for s in again.stages] == ["default"]


def test_environment_decides_target_labels_and_approval(sqlite_hub, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "release")
    origin.tag("v2.0.0")
    repo = add_repo(sqlite_hub, origin)
    sqlite_hub.stores.environments.create(
        repo.id,
        "production",
        tags=["v*"],
        events=["tag"],
        labels={"env": "production"},
        approval_required=True,
    )
    event = BuildContext(event="tag", ref="refs/tags/v2.0.0", branch="", tag="v2.0.0", commit=sha)
    build = sqlite_hub.triggerer.trigger(repo, event)
    assert build.target == "production"
    assert build.status == BLOCKED
    assert build.stages[0].status == BLOCKED
    assert build.stages[0].labels["env"] == "production"
    assert build.context["target"] == "production"
    # A branch push does not fall into the tag-only environment.
    plain = sqlite_hub.triggerer.trigger(repo, push_event(sha))
    assert plain.target == "" and plain.status == PENDING


DEPLOY_STEP = """\
  - name: deploy
    image: runner-test/busybox
    commands: [echo deploying to ${DRONE_DEPLOY_TO}]
    when:
      target: [staging, production]
"""


def test_promote_builds_the_same_commit_for_the_target(sqlite_hub, origin):
    text = SIMPLE + DEPLOY_STEP + "trigger:\n  event: [push, promote]\n"
    sha = origin.commit({".drone.yml": text}, "deployable")
    repo = add_repo(sqlite_hub, origin)
    sqlite_hub.stores.environments.create(repo.id, "staging", events=["promote"])
    first = sqlite_hub.triggerer.trigger(repo, push_event(sha))
    promoted = sqlite_hub.triggerer.promote(repo, first, target="staging", sender="ops")
    assert promoted.event == "promote" and promoted.target == "staging"
    assert promoted.parent == first.number and promoted.commit == sha
    with pytest.raises(NotFound, match="no environment"):
        sqlite_hub.triggerer.promote(repo, first, target="nowhere")


def test_a_promote_whose_pipeline_has_no_step_for_the_target_is_refused_and_makes_no_build(
    hub, origin
):
    sha = origin.commit({".drone.yml": SIMPLE}, "no deploy step")
    repo = add_repo(hub, origin)
    hub.stores.environments.create(repo.id, "production")
    first = hub.triggerer.trigger(repo, push_event(sha))
    for event in ("promote", "rollback"):
        with pytest.raises(NothingToDeploy) as refused:
            hub.triggerer.promote(repo, first, target="production", event=event, sender="ops")
        assert refused.value.http_status == 422
        assert str(refused.value).startswith(
            f"build #{first.number} (commit {sha[:7]}) has no step for environment "
            "production: its pipeline would deploy nothing"
        )
    assert hub.stores.builds.count(repo.id) == 1
    # The refused numbers were given back: the next build is #2.
    assert hub.triggerer.trigger(repo, push_event(sha)).number == 2


def test_a_rollback_skips_approval_only_to_what_was_live_where_the_environment_exempts_it(
    sqlite_hub, origin
):
    stores = sqlite_hub.stores
    sha = origin.commit({".drone.yml": SIMPLE + DEPLOY_STEP}, "deployable")
    repo = add_repo(sqlite_hub, origin)
    stores.environments.create(repo.id, "staging", approval_required=True, rollback_exempt=True)
    stores.environments.create(repo.id, "production", approval_required=True, position=1)
    first = sqlite_hub.triggerer.trigger(repo, push_event(sha))  # staging takes every branch
    assert (first.target, first.status) == ("staging", BLOCKED)
    stores.builds.approve(first.id, "ops")
    agent = stores.agents.create("deployer", capacity=4)
    stage = stores.stages.claim(agent)
    for step in stores.steps.list_for_stage(stage.id):  # the deploy step ran
        stores.steps.update(step.id, status=SUCCESS)
    stores.stages.done(stage.id, SUCCESS, agent_id=agent.id)
    assert stores.deployments.was_live(repo.id, "staging", sha)
    newer = sqlite_hub.triggerer.trigger(repo, push_event(origin.commit({"b": "2"}, "newer")))

    exempt = sqlite_hub.triggerer.promote(repo, first, target="staging", event="rollback")
    guarded = sqlite_hub.triggerer.promote(repo, first, target="production", event="rollback")
    promoted = sqlite_hub.triggerer.promote(repo, first, target="staging", event="promote")
    never_live = sqlite_hub.triggerer.promote(repo, newer, target="staging", event="rollback")
    assert exempt.status == PENDING and guarded.status == BLOCKED
    assert promoted.status == BLOCKED  # the exemption is for rollbacks only
    # A "rollback" to a commit that never ran there is a release: it waits for approval.
    assert never_live.status == BLOCKED


@pytest.mark.parametrize("with_sha", [True, False], ids=["github-style", "gogs-style"])
def test_pull_request_from_a_fork_builds_the_pull_ref(sqlite_hub, origin, with_sha):
    origin.commit({".drone.yml": SIMPLE}, "base")
    text = SIMPLE + "  - name: pr-only\n    image: runner-test/busybox\n    commands: [true]\n"
    text += "    when:\n      event: [pull_request]\n"
    sha = origin.pull_request(7, {".drone.yml": text}, "Add a PR step")
    event = BuildContext(
        event="pull_request",
        ref="refs/pull/7/head",
        commit=sha if with_sha else "",
        branch="main",
        source_branch="feature",
        target_branch="main",
        pull_request=7,
        action="opened",
        fork=True,
        message="Add a PR step",
    )
    build = sqlite_hub.triggerer.trigger(add_repo(sqlite_hub, origin), event)
    assert build.commit == sha and build.event == "pull_request"
    assert [step.name for step in build.stages[0].steps] == ["clone", "test", "pr-only"]
    assert build.context["pull_request"] == 7 and build.context["fork"] is True


class CountingCompiler:
    """The real compile worker, counting the pipeline files it compiles; ``meanwhile`` runs
    before each compile (another server's work, say)."""

    def __init__(self, real, meanwhile=lambda: None):
        self.real = real
        self.meanwhile = meanwhile
        self.compiles = 0

    def call(self, fn, *args, **kwargs):
        if fn is load_pipeline:
            self.compiles += 1
            self.meanwhile()
        return self.real.call(fn, *args, **kwargs)


def test_two_servers_triggering_at_once_get_distinct_consecutive_numbers(hub, origin, tmp_path):
    sha = origin.commit({".drone.yml": SIMPLE}, "one")
    repo = add_repo(hub, origin)
    # A second server process: its own triggerer and connections, the same database.
    other = make_services(tmp_path / "second", str(hub.db.url.render_as_string(False)))
    builds, errors = [], []

    def trigger_three(services):
        try:
            for _ in range(3):
                builds.append(services.triggerer.trigger(repo, push_event(sha)))
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=trigger_three, args=(s,)) for s in (hub, other, hub)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        close_services(other)
    assert errors == []
    assert sorted(b.number for b in builds) == list(range(1, 10))
    for build in builds:
        stored = hub.stores.builds.get(build.id)
        assert stored.number == build.number and stored.context["build_number"] == build.number
        test_step = stored.stages[0].spec.steps[-1]
        assert test_step.environment["DRONE_BUILD_NUMBER"] == str(build.number)


def test_a_file_that_fails_to_compile_still_gets_a_numbered_error_build(sqlite_hub, origin):
    repo = add_repo(sqlite_hub, origin)
    broken = origin.commit({".drone.yml": "kind: pipeline\nsteps: [\n"}, "broken")
    fixed = origin.commit({".drone.yml": SIMPLE}, "fixed")
    error = sqlite_hub.triggerer.trigger(repo, push_event(broken))
    good = sqlite_hub.triggerer.trigger(repo, push_event(fixed))
    assert (error.status, error.number) == (ERROR, 1)
    assert error.context["build_number"] == 1
    assert (good.status, good.number) == (PENDING, 2)


def test_an_event_that_makes_no_build_gives_its_number_back(sqlite_hub, origin):
    text = SIMPLE + "trigger:\n  event: [tag]\n"
    sha = origin.commit({".drone.yml": text}, "tags only")
    repo = add_repo(sqlite_hub, origin)
    with pytest.raises(BuildSkipped):
        sqlite_hub.triggerer.trigger(repo, push_event(sha))
    with pytest.raises(NotFound):
        sqlite_hub.triggerer.manual(repo, branch="no-such-branch")
    origin.tag("v1")
    tag = BuildContext(event="tag", ref="refs/tags/v1", tag="v1", branch="", commit=sha)
    assert sqlite_hub.triggerer.trigger(repo, tag).number == 1


def test_the_file_is_compiled_once_per_build_with_the_reserved_number(hub, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "one")
    repo = add_repo(hub, origin)
    # Another server takes a number while this one compiles: nothing is compiled again.
    counting = CountingCompiler(
        hub.triggerer.compiler, lambda: Stores(hub.db).builds.reserve_number(repo.id)
    )
    hub.triggerer.compiler = counting
    first = hub.triggerer.trigger(repo, push_event(sha))
    second = hub.triggerer.trigger(repo, push_event(sha))
    assert counting.compiles == 2
    assert (first.number, second.number) == (1, 3)  # 2 went to the other server
    for build in (first, second):
        step = hub.stores.builds.get(build.id).stages[0].spec.steps[-1]
        assert step.environment["DRONE_BUILD_NUMBER"] == str(build.number)


def test_paths_conditions_use_the_files_changed_since_before(sqlite_hub, origin):
    text = SIMPLE + (
        "  - name: docs\n    image: runner-test/busybox\n    commands: [make docs]\n"
        "    when:\n      paths: [docs/**]\n"
    )
    before = origin.commit({".drone.yml": text}, "pipeline")
    code_only = origin.commit({"src/main.go": "package main\n"}, "code")
    repo = add_repo(sqlite_hub, origin)
    event = push_event(code_only)
    event.before = before
    build = sqlite_hub.triggerer.trigger(repo, event)
    assert build.context["changed_files"] == ["src/main.go"]
    assert [s.name for s in build.stages[0].steps] == ["clone", "test"]
    with_docs = origin.commit({"docs/index.md": "# Docs\n"}, "docs")
    event = push_event(with_docs)
    event.before = code_only
    build = sqlite_hub.triggerer.trigger(repo, event)
    assert [s.name for s in build.stages[0].steps] == ["clone", "test", "docs"]
    # A "before" the mirror does not have leaves the files unknown: paths then match.
    event = push_event(with_docs)
    event.before = "e" * 40
    build = sqlite_hub.triggerer.trigger(repo, event)
    assert build.context["changed_files"] is None
