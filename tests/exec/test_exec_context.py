"""What runner exec works out before running: file lookup, git context, options, secrets
files, durations, the order stages run in (on the fake engine), the summary table, and usage
errors (no Docker needed)."""

from __future__ import annotations

import io
import subprocess

import pytest

from runner.agent.executor import StageResult
from runner.commands import exec_context as ectx
from runner.commands.exec import TerminalLog, exec_main, run_stages, summary
from runner.engine.fake import FakeBehaviour, FakeEngine
from runner.errors import BadRequest
from runner.pipeline.spec import ON_FAILURE, StageSpec, StepResult, StepSpec


def test_lookup_order_prefers_pipeline_yml_and_reads_woodpecker_folders(tmp_path):
    (tmp_path / ".drone.yml").write_text("x")
    (tmp_path / ".pipeline.yml").write_text("x")
    assert ectx.find_pipeline_files(tmp_path) == [tmp_path / ".pipeline.yml"]
    other = tmp_path / "wp"
    (other / ".woodpecker").mkdir(parents=True)
    for name in ("b.yml", "a.yaml", "notes.txt"):
        (other / ".woodpecker" / name).write_text("x")
    assert [p.name for p in ectx.find_pipeline_files(other)] == ["a.yaml", "b.yml"]
    with pytest.raises(BadRequest, match="no pipeline file"):
        ectx.find_pipeline_files(tmp_path / "wp" / ".woodpecker")


def test_context_comes_from_the_git_working_tree(tmp_path):
    git = ["git", "-c", "user.name=Ada Dev", "-c", "user.email=ada@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "feature/x"], cwd=tmp_path, check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "git@example.com:acme/api.git"], cwd=tmp_path, check=True
    )
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Add f\n\nbody"], cwd=tmp_path, check=True)
    ctx = ectx.context_from_git(tmp_path)
    assert (ctx.repo, ctx.branch, ctx.ref) == ("acme/api", "feature/x", "refs/heads/feature/x")
    assert len(ctx.commit) == 40 and ctx.message == "Add f\n\nbody"
    assert (ctx.author, ctx.author_email) == ("Ada Dev", "ada@example.com")
    assert ectx.context_from_git(tmp_path / "f").repo  # inside the tree still works
    plain = tmp_path.parent / f"{tmp_path.name}-plain"
    plain.mkdir()
    assert ectx.context_from_git(plain).repo == f"local/{plain.name}"


def test_options_override_the_context():
    ctx = ectx.apply_options(ectx.BuildContext(), tag="v1.4.0", event=None, branch="")
    assert (ctx.event, ctx.tag, ctx.ref) == ("tag", "v1.4.0", "refs/tags/v1.4.0")
    ctx = ectx.apply_options(ectx.BuildContext(), ref="refs/heads/release", event="push")
    assert ctx.branch == "release"


def test_secrets_file_pairs_and_durations(tmp_path):
    path = tmp_path / "s.env"
    path.write_text("# comment\nexport A=1\nB='two words'\nC=\"l1\\nl2\"\n\n")
    assert ectx.read_secrets_file(str(path)) == {"A": "1", "B": "two words", "C": "l1\nl2"}
    path.write_text("oops\n")
    with pytest.raises(BadRequest, match="s.env:1"):
        ectx.read_secrets_file(str(path))
    assert ectx.parse_pairs(["a=b=c"], "--env") == {"a": "b=c"}
    with pytest.raises(BadRequest, match="--secret 'x' is not NAME=VALUE"):
        ectx.parse_pairs(["x"], "--secret")
    assert [ectx.parse_duration(t) for t in ("90", "90s", "10m", "1h30m")] == [90, 90, 600, 5400]
    with pytest.raises(BadRequest, match="not a duration"):
        ectx.parse_duration("soon")


def test_stages_run_in_queue_order_and_dependents_follow_the_readiness_rule():
    a, b, c = StageSpec("a", depends_on=["c"]), StageSpec("b"), StageSpec("c")
    broken = StageSpec("broken", steps=[StepSpec("x", "img")])
    after = StageSpec("after", depends_on=["broken"])
    cleanup = StageSpec("cleanup", depends_on=["broken"], run_policy=ON_FAILURE)
    engine = FakeEngine({"x": FakeBehaviour(exit_code=1)})
    out = io.StringIO()
    results = run_stages(
        [a, b, c, after, cleanup, broken],
        engine_factory=lambda _stage: engine,
        log=TerminalLog(out),
    )
    # The first stage in file order free to start, as the server's queue hands them out.
    ran = [(stage.name, result.status) for stage, result in results]
    assert ran == [
        ("b", "success"),
        ("c", "success"),
        ("a", "success"),
        ("broken", "failure"),
        ("after", "skipped"),
        ("cleanup", "success"),
    ]
    assert "--- stage after: skipped" in out.getvalue()


def test_summary_table():
    a = StageSpec("a")
    result = StageResult(
        "failure",
        [StepResult("build", "failure", 2, 10.0, 12.5), StepResult("deploy", "skipped")],
    )
    table = summary([(a, result)]).splitlines()
    assert table[0].split() == ["STAGE", "STEP", "STATUS", "DURATION"]
    assert table[1].split() == ["a", "build", "failure", "(2)", "2.5s"]
    assert table[2].split() == ["a", "deploy", "skipped", "0.0s"]


def test_pipeline_and_usage_errors_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert exec_main(out=out) == 2 and "no pipeline file" in out.getvalue()
    (tmp_path / ".drone.yml").write_text(
        "kind: pipeline\nname: x\nsteps:\n- name: a\n  comands: [x]\n"
    )
    out = io.StringIO()
    assert exec_main(out=out) == 2
    assert '.drone.yml:4: error: steps[0].image: step "a" has no image' in out.getvalue()
    (tmp_path / ".drone.yml").write_text(
        "kind: pipeline\nname: x\nsteps:\n- name: a\n  image: i\n  commands: [x]\n"
    )
    out = io.StringIO()
    assert exec_main(out=out, stage_names=("nope",)) == 2
    assert "no stage named nope (stages: x)" in out.getvalue()
