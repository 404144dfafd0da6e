"""Property: no correctly signed webhook body of any forge makes the server answer 5xx, log a
traceback or hang. Hypothesis takes each forge's recorded payloads (push, tag, pull or merge
request; the generic body) and puts hostile values at any field — wrong types, NUL, lone
surrogates, huge integers, NaN/Infinity, deep nesting, bytes that are not UTF-8 — and sends
raw random bytes too, thousands of bodies per run; the seed and example count are printed
(rerun one with RUNNER_FUZZ_SEED=<seed>)."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import time
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from runner.errors import EngineError
from runner.server.trigger import Triggerer
from tests.security.webhook_kit import SLUGS, post, signed, webhook_hub

PAYLOADS = Path(__file__).parents[1] / "forges" / "payloads"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))
SEED = int(os.environ.get("RUNNER_FUZZ_SEED") or random.randrange(2**32))
# What a hostile but signed delivery may be answered; anything else (5xx above all) fails.
ANSWERS = {200, 201, 400, 403}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

GENERIC = {
    "event": "push",
    "ref": "refs/heads/main",
    "commit": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "message": "Deploy docs",
    "author": "dev",
    "pull_request": 0,
    "target": "",
    "changed_files": ["docs/index.md"],
    "params": {"VERSION": "1.0"},
}

# (forge, event header, template body) for every event each forge module builds from.
TEMPLATES = {
    "github": [
        ("push", "github_push"),
        ("push", "github_tag"),
        ("push", "github_delete"),
        ("pull_request", "github_pull_request"),
    ],
    "gitlab": [
        ("Push Hook", "gitlab_push"),
        ("Tag Push Hook", "gitlab_tag"),
        ("Push Hook", "gitlab_delete"),
        ("Merge Request Hook", "gitlab_merge_request"),
    ],
    "gitea": [("push", "gitea_push"), ("pull_request", "gitea_pull_request")],
    "gogs": [("push", "gogs_push"), ("pull_request", "gogs_pull_request")],
    "generic": [("", GENERIC)],
}

# JSON text put in place of a value as it is, where json.dumps would not write it.
RAW_FRAGMENTS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e400",
    "9" * 5000,
    "1" + "0" * 45,
    "-" + "9" * 30,
    "[" * 3000 + "]" * 3000,
    '{"a":' * 300 + "1" + "}" * 300,
    '"\\u0000"',
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"a\\u0000b"',
    "-0",
    "1.5",
    "1e2",
]
SPECIAL_TEXT = [
    "",
    "\x00",
    "\ud800",
    "x\udcff",
    "-x",
    "--upload-pack=touch /tmp/pwned",
    "refs/heads/main",
    "refs/tags/v1.0.0",
    "refs/heads/a..b",
    "0" * 40,
    "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    "opened",
    "synchronize",
    "synchronized",
    "open",
    "update",
    "[skip ci]",
    "é" * 10,
    "a" * 400,
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.sampled_from(SPECIAL_TEXT),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=20),
)
# One level of containers: deeper nesting comes from RAW_FRAGMENTS, at a fraction of the cost.
values = (
    leaves | st.lists(leaves, max_size=3) | st.dictionaries(st.text(max_size=6), leaves, max_size=3)
)


def load_template(name) -> dict:
    if isinstance(name, dict):
        return name
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def paths_of(data, prefix=()) -> list[tuple]:
    """Every path to a value of ``data`` (keys and list indices), the containers included."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths_of(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += paths_of(value, (*prefix, index))
    return out


def put(data, path: tuple, value, *, delete: bool = False) -> None:
    """Set (or delete) ``path`` in ``data`` when it still leads somewhere."""
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if isinstance(parent, dict) or (isinstance(parent, list) and isinstance(last, int)):
        try:
            if delete:
                del parent[last]
            else:
                parent[last] = value
        except (IndexError, KeyError):
            return


def _template_strategy(forge: str):
    """Per template of ``forge``: its event, the template, and a strategy of its paths."""
    choices = []
    for event, name in TEMPLATES[forge]:
        template = load_template(name)
        choices.append((event, template, st.sampled_from(paths_of(template))))
    return st.sampled_from(choices)


TEMPLATE_CHOICES = {forge: _template_strategy(forge) for forge in TEMPLATES}
HOW = st.sampled_from(["value", "value", "fragment", "delete"])
FRAGMENTS = st.sampled_from(RAW_FRAGMENTS)


@st.composite
def hostile_bodies(draw, forge: str):
    """``(event header, body bytes, content type)``: a payload of ``forge`` with a few fields
    made hostile."""
    event, template, paths = draw(TEMPLATE_CHOICES[forge])
    data = copy.deepcopy(template)
    fragments: dict[str, str] = {}
    for n in range(draw(st.integers(1, 4))):
        path = draw(paths)
        how = draw(HOW)
        if how == "fragment":
            marker = f"@@fragment-{n}@@"
            fragments[marker] = draw(FRAGMENTS)
            put(data, path, marker)
        else:
            put(data, path, draw(values), delete=how == "delete")
    ascii_only = draw(st.booleans())
    text = json.dumps(data, ensure_ascii=ascii_only)
    for marker, fragment in fragments.items():
        text = text.replace(json.dumps(marker), fragment)
    # Lone surrogates written raw make bytes that are not UTF-8: a body a forge could mangle.
    raw = text.encode("utf-8", "surrogatepass")
    if forge == "github" and draw(st.booleans()):  # GitHub's form content type
        return event, b"payload=" + quote_from_bytes(raw).encode(), FORM
    return event, raw, JSON


delivery_ids = st.one_of(
    st.just(""), st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=220)
)


class GitlessTriggerer(Triggerer):
    """The real triggerer, except that the commit is never fetched: every accepted delivery
    becomes a build in ``error`` saved with all of its event's fields. A fetch costs ~100 ms
    of git processes, thousands of them would not fit the run; the fetch of accepted hostile
    deliveries is covered by tests/security/test_webhook_input.py against real git."""

    def mirror(self, repo, event=None):
        raise EngineError("the fuzz run does not fetch commits")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    # No limits: thousands of deliveries a minute are the point here.
    limits = {"hook_rate_per_repo": 0, "hook_rate_global": 0}
    with webhook_hub(root / "data", "file:///nonexistent/fuzz.git", **limits) as h:
        for slug in SLUGS.values():
            repo = h.stores.repos.get_by_slug(slug)
            h.stores.repos.update(repo.id, generic_hook=True)
        h.triggerer = GitlessTriggerer(h)
        yield h


class Tally:
    """Counts the examples run and their answers, and remembers the slowest answer."""

    def __init__(self):
        self.examples = 0
        self.slowest = 0.0
        self.answers: dict[int, int] = {}

    def deliver(self, hub, forge, event, raw, delivery, content_type=JSON) -> None:
        started = time.monotonic()
        headers = {**signed(forge, event, raw, delivery=delivery), "Content-Type": content_type}
        resp = post(hub, forge, headers, raw)
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.examples += 1
        self.answers[resp.status_code] = self.answers.get(resp.status_code, 0) + 1
        text = resp.get_data(as_text=True)
        assert resp.status_code in ANSWERS, (resp.status_code, text, raw[:300])
        assert "Traceback" not in text and 'File "' not in text
        answer = resp.get_json()
        assert isinstance(answer, dict) and (answer.get("error") or answer.get("status"))


def report(capsys, what: str, tally: Tally) -> None:
    with capsys.disabled():
        print(
            f"\n{what}: seed={SEED} examples={tally.examples} "
            f"answers={dict(sorted(tally.answers.items()))} slowest={tally.slowest:.2f}s "
            f"(rerun: RUNNER_FUZZ_SEED={SEED})"
        )


def no_tracebacks(caplog) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad[:3]]


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# Bounded (a fixed number of examples); the limit only guards against a hang, on a loaded
# machine too.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("forge", list(TEMPLATES))
def test_hostile_signed_payloads_never_give_5xx_or_a_traceback(hub, forge, capsys, caplog):
    caplog.set_level(logging.WARNING)
    tally = Tally()

    @seed(SEED)
    @FUZZ
    @given(body=hostile_bodies(forge), delivery=delivery_ids)
    def run(body, delivery):
        event, raw, content_type = body
        tally.deliver(hub, forge, event, raw, delivery, content_type)

    try:
        run()
    finally:  # the seed and count also when an example fails
        report(capsys, f"fuzz {forge} payloads", tally)
    assert tally.examples >= EXAMPLES
    no_tracebacks(caplog)


@pytest.mark.timeout(600)
def test_signed_random_bytes_never_give_5xx_or_a_traceback(hub, capsys, caplog):
    caplog.set_level(logging.WARNING)
    tally = Tally()
    events = {forge: [event for event, _name in TEMPLATES[forge]] for forge in TEMPLATES}

    @seed(SEED)
    @FUZZ
    @given(
        forge=st.sampled_from(list(TEMPLATES)),
        pick=st.integers(0, 3),
        raw=st.one_of(
            st.binary(max_size=400),
            st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.sampled_from(RAW_FRAGMENTS).map(str.encode),
        ),
    )
    def run(forge, pick, raw):
        event = events[forge][pick % len(events[forge])]
        tally.deliver(hub, forge, event, raw, "")

    try:
        run()
    finally:  # the seed and count also when an example fails
        report(capsys, "fuzz raw bodies", tally)
    assert tally.examples >= EXAMPLES
    no_tracebacks(caplog)
