"""The ready pipeline files of pipelines/ lint clean (no error, no warning) with the default
agent settings, and compile for the builds they are meant for."""

from pathlib import Path

import pytest

from runner.pipeline.config import load_pipeline
from runner.pipeline.lint import lint_files
from runner.pipeline.spec import BuildContext
from runner.settings import Settings

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
FILES = sorted(p for p in PIPELINES.glob("*.y*ml"))
PRIVILEGED = Settings().agent_privileged_images
PUSH = BuildContext(repo="acme/app", event="push", branch="main", commit="ab12cd34" * 5)
TAG = BuildContext(repo="acme/app", event="tag", branch="main", tag="v1.4.0", commit="ef" * 20)
PROMOTE = BuildContext(
    repo="acme/app", event="promote", branch="main", target="production", commit="ab" * 20
)


def test_there_are_ready_files():
    names = {p.name for p in FILES}
    assert {"python.yml", "go.yml", "java-maven.yml", "node.yml", "docker-image.yml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_lints_clean(path):
    issues = lint_files({path.name: path.read_text()}, privileged_images=PRIVILEGED)
    assert [i.format() for i in issues] == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("ctx", [PUSH, TAG], ids=["push", "tag"])
def test_compiles(path, ctx):
    build = load_pipeline({path.name: path.read_text()}, ctx, privileged_images=PRIVILEGED)
    assert build.stages or build.skipped


def test_docker_image_environments():
    text = (PIPELINES / "docker-image.yml").read_text()
    push = load_pipeline({"docker-image.yml": text}, PUSH, privileged_images=PRIVILEGED)
    assert [s.name for s in push.stages] == ["image", "deploy-staging"]
    assert push.stages[1].labels == {"env": "staging"}
    assert push.stages[1].depends_on == ["image"]
    tag = load_pipeline({"docker-image.yml": text}, TAG, privileged_images=PRIVILEGED)
    steps = [s.name for s in tag.stages[0].steps]
    assert steps == ["clone", "test", "publish-release"]
    assert tag.stages[0].steps[2].environment["PLUGIN_TAGS"] == "1.4.0,latest"
    promote = load_pipeline({"docker-image.yml": text}, PROMOTE, privileged_images=PRIVILEGED)
    assert [s.name for s in promote.stages] == ["deploy-production"]
    assert promote.stages[0].labels == {"env": "production"}
