"""Random files built from the real keys with values of every type: lint and compile report
problems as issues or PipelineError, never another exception."""

import random

import yaml

from runner.errors import PipelineError
from runner.pipeline.conditions import KNOWN_FIELDS
from runner.pipeline.config import load_pipeline
from runner.pipeline.lint import lint_files
from runner.pipeline.parse_drone import PIPELINE_KEYS
from runner.pipeline.parse_maps import DRONE08_KEYS, WOODPECKER_KEYS
from runner.pipeline.spec import BuildContext
from runner.pipeline.steps import COMMON_KEYS

SCALARS = [None, True, 3, 2.5, "x", "", "a:b", "/var/run/docker.sock:/x", "success", "main"]
NESTED_KEYS = list(KNOWN_FIELDS) + ["include", "exclude", "from_secret", "name", "path", "temp"]


def _value(rng, depth=0):
    roll = rng.random()
    if depth > 2 or roll < 0.4:
        return rng.choice([*SCALARS, {"from_secret": "s"}])
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(NESTED_KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _step(rng):
    step = {k: _value(rng, 1) for k in rng.sample(COMMON_KEYS, rng.randint(1, 6))}
    if rng.random() < 0.7:
        step["name"] = rng.choice(["a", "b", "clone", "c"])
    if rng.random() < 0.7:
        step["image"] = "alpine"
    return step


def _document(rng):
    kind = rng.randrange(3)
    if kind == 0:
        doc = {"kind": "pipeline", "name": "p"}
        doc.update({k: _value(rng) for k in rng.sample(PIPELINE_KEYS, 4)})
        doc["steps"] = [_step(rng) for _ in range(rng.randint(0, 3))]
        return ".drone.yml", doc
    if kind == 1:
        doc = {k: _value(rng) for k in rng.sample(DRONE08_KEYS, 3)}
        doc["pipeline"] = {f"s{j}": _step(rng) for j in range(rng.randint(0, 3))}
        return ".drone.yml", doc
    doc = {k: _value(rng) for k in rng.sample(WOODPECKER_KEYS, 4)}
    doc["steps"] = {f"s{j}": _step(rng) for j in range(rng.randint(0, 3))}
    return ".woodpecker/x.yml", doc


def test_random_documents_never_crash():
    rng = random.Random(11)
    ctx = BuildContext(changed_files=["src/a.py"])
    for _ in range(400):
        name, doc = _document(rng)
        text = yaml.safe_dump(doc)
        for issue in lint_files({name: text}):
            assert issue.level in ("error", "warning") and issue.message
        try:
            load_pipeline({name: text}, ctx, trusted=rng.random() < 0.5)
        except PipelineError as exc:
            assert str(exc)
