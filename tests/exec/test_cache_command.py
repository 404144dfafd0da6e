"""``runner cache ls`` shows the cache volumes of a repository and ``prune`` removes them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.engine.labels import cache_volume_name

pytestmark = pytest.mark.docker


def test_ls_then_prune(docker_client, run_id):
    repo = f"test/cli-{run_id}"
    name = cache_volume_name(repo, "default", "/root/.m2")
    docker_client.volumes.create(
        name,
        labels={
            "pipeline-runner.cache": "1",
            "pipeline-runner.cache.repo": repo,
            "pipeline-runner.cache.key": "default",
            "pipeline-runner.cache.path": "/root/.m2",
            "pipeline-runner.test": run_id,
        },
    )
    listed = CliRunner().invoke(cli, ["cache", "ls", "--repo", repo])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[1].split() == [repo, "default", "/root/.m2", "own", name]
    pruned = CliRunner().invoke(cli, ["cache", "prune", "--repo", repo])
    assert pruned.exit_code == 0 and f"removed {name}" in pruned.output
    assert CliRunner().invoke(cli, ["cache", "ls", "--repo", repo]).output.count("\n") == 1
