"""`runner env ls|add|set|rm` on the server's database, with the declaration's validation."""

from __future__ import annotations

from click.testing import CliRunner

from runner.cli import cli
from runner.server.services import open_stores
from runner.settings import load_settings


def run(args, env):
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_env_commands_manage_a_repositorys_environments(tmp_path):
    env = {"RUNNER_DATA_DIR": str(tmp_path)}
    stores = open_stores(load_settings({"data_dir": str(tmp_path)}, environ={}))
    stores.repos.create("acme/app", clone_url="file:///x")
    code, out = run(
        [
            "env",
            "add",
            "acme/app",
            "production",
            "--tags",
            "v*",
            "--labels",
            "env=production",
            "--approval",
            "--lock",
        ],
        env,
    )
    assert code == 0, out
    code, out = run(["env", "add", "acme/app", "test", "--branches", "develop"], env)
    assert code == 0, out
    code, out = run(["env", "set", "acme/app", "production", "--no-lock"], env)
    assert code == 0, out
    code, out = run(["env", "ls", "acme/app"], env)
    assert out.splitlines() == [
        "production\ttags v*; labels env=production; approval",
        "test\tbranches develop",
    ]
    code, out = run(["env", "add", "acme/app", "staging", "--events", "deploy"], env)
    assert code == 1 and "unknown event 'deploy'" in out
    code, out = run(["env", "rm", "acme/app", "test"], env)
    assert code == 0
    code, out = run(["env", "rm", "acme/app", "test"], env)
    assert code == 1 and "has no environment test" in out
    stores.db.dispose()
