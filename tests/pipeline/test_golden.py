"""Compiled output of representative files (Drone 1.x, Drone 0.8, Woodpecker) against golden JSON.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/pipeline/test_golden.py``
and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext

GOLDEN = Path(__file__).parent / "golden"
CTX = BuildContext(
    repo="acme/app",
    event="tag",
    branch="main",
    tag="v1.4.0",
    ref="refs/tags/v1.4.0",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    message="release 1.4.0",
    author="octocat",
    author_email="octocat@example.com",
    remote_url="https://git.example.com/acme/app.git",
    link="https://git.example.com/acme/app",
    build_number=42,
    server_url="https://ci.example.com",
    created=1700000000,
)
# file -> name it is compiled under (the name decides the dialect and Woodpecker stage name)
CASES = {
    "drone1_docker_release.yml": ".drone.yml",
    "drone08_groups.yml": ".drone.yml",
    "woodpecker_matrix.yml": ".woodpecker/test.yml",
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_compiled_output_matches_golden(source):
    text = (GOLDEN / source).read_text(encoding="utf-8")
    build = load_pipeline(
        {CASES[source]: text}, CTX, environ={"AGENT_GLOBAL": "1"}, privileged_images=()
    )
    actual = json.dumps(build.to_dict(), indent=1, sort_keys=True) + "\n"
    golden = GOLDEN / source.replace(".yml", ".json")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden.name} missing: run with UPDATE_GOLDEN=1 and review it"
    assert json.loads(actual) == json.loads(golden.read_text(encoding="utf-8"))
