"""Seeded store data for the web UI tests: a repository, users of each role, builds, logs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from runner.core import Build, Stage, Step

XSS_MESSAGE = 'Fix <script>window.__xss=1</script><img src=x onerror="window.__xss=2"> & more'
XSS_BRANCH = "feat/<b>bold</b>\"'<svg onload=window.__xss=3>"
XSS_LINE = '<script>window.__xss=4</script><img src=x onerror="window.__xss=5">'
PASSWORD = "correct-horse-1"


@dataclass
class Seeded:
    repo: object
    private_repo: object
    done: Build  # finished build: steps with ANSI, XSS and a long log
    running: Build  # running build with a running step
    blocked: Build  # waiting for approval
    waiting: Build  # pending stage no agent can take
    xss: Build  # commit message and branch with HTML


def _build(
    stores,
    repo,
    *,
    status,
    branch="main",
    message="Update docs",
    event="push",
    stages=(("build", "success", ("clone", "test")),),
    target="",
    started=0.0,
):
    now = time.time()
    build = Build(
        id=0,
        repo_id=repo.id,
        number=0,
        event=event,
        status=status,
        branch=branch,
        commit="0123456789abcdef0123456789abcdef01234567",
        message=message,
        author="alice",
        target=target,
        created=now - 60,
        started=started or now - 50,
        finished=0.0 if status in ("running", "pending", "blocked") else now - 5,
    )
    for n, (name, st_status, steps) in enumerate(stages, start=1):
        stage = Stage(id=0, build_id=0, number=n, name=name, status=st_status)
        if st_status == "waiting_label":
            stage.status = "pending"
            stage.labels = {"env": "production"}
        for m, step_name in enumerate(steps, start=1):
            step_status = "pending" if st_status in ("waiting_label", "blocked") else st_status
            stage.steps.append(
                Step(
                    id=0,
                    stage_id=0,
                    number=m,
                    name=step_name,
                    status=step_status,
                    started=build.started if step_status != "pending" else 0.0,
                    finished=build.finished if step_status not in ("pending", "running") else 0.0,
                )
            )
        build.stages.append(stage)
    return stores.builds.create(build)


def seed(stores) -> Seeded:
    """Users admin (created by the app), writer, reader; one public and one private repo."""
    writer = stores.users.create("writer", password=PASSWORD)
    reader = stores.users.create("reader", password=PASSWORD)
    repo = stores.repos.create("acme/web", clone_url="file:///nowhere", webhook_secret="s3cret")
    private_repo = stores.repos.create("acme/secret", private=True)
    stores.users.grant(writer.id, repo.id, "write")
    stores.users.grant(reader.id, repo.id, "read")
    stores.environments.create(repo.id, "production", branches=["main"], approval_required=True)
    done = _build(stores, repo, status="success", stages=(("build", "success", ("clone", "test")),))
    test_step = done.stages[0].steps[1]
    stores.logs.append(test_step.id, 0, ["\x1b[32mok\x1b[0m green line", "plain line", XSS_LINE])
    stores.logs.append(test_step.id, 1, [f"line {i}" for i in range(4, 40)])
    running = _build(
        stores, repo, status="running", branch="dev", stages=(("build", "running", ("clone",)),)
    )
    blocked = _build(
        stores,
        repo,
        status="blocked",
        target="production",
        stages=(("deploy", "blocked", ("ship",)),),
    )
    waiting = _build(
        stores,
        repo,
        status="pending",
        target="production",
        stages=(("deploy", "waiting_label", ("ship",)),),
    )
    xss = _build(
        stores,
        repo,
        status="failure",
        branch=XSS_BRANCH,
        message=XSS_MESSAGE,
        stages=(("build", "failure", ("clone",)),),
    )
    stores.logs.append(xss.stages[0].steps[0].id, 0, [XSS_LINE, "\x1b[1;31merror\x1b[0m: boom"])
    return Seeded(repo, private_repo, done, running, blocked, waiting, xss)
