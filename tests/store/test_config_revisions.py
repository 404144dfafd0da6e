"""Configuration revisions: a repository's distinct pipeline configurations are numbered from 1
in the order first built, a content seen before keeps its number (a revert too), repositories
count apart, and servers numbering at once on one database never share or skip a number."""

from __future__ import annotations

import threading

from runner.store import Database
from runner.store.config_revisions import ConfigRevisionStore, config_digest

FILE_V1 = {".drone.yml": "kind: pipeline\nsteps:\n  - name: a\n"}
FILE_V2 = {".drone.yml": "kind: pipeline\nsteps:\n  - name: b\n"}


def test_the_digest_covers_names_and_contents_in_any_order():
    assert config_digest(FILE_V1) == config_digest(dict(FILE_V1))
    assert config_digest(FILE_V1) != config_digest(FILE_V2)
    assert config_digest(FILE_V1) != config_digest({".pipeline.yml": FILE_V1[".drone.yml"]})
    two = {".woodpecker/a.yml": "x", ".woodpecker/b.yml": "y"}
    assert config_digest(two) == config_digest(dict(reversed(list(two.items()))))
    # Text moved from a name into a content is another configuration.
    assert config_digest({"ab": "c"}) != config_digest({"a": "bc"})
    assert len(config_digest(FILE_V1)) == 64


def test_same_content_keeps_its_number_and_new_content_takes_the_next(stores, repo):
    revisions = stores.config_revisions
    v1, v2 = config_digest(FILE_V1), config_digest(FILE_V2)
    assert revisions.find(repo.id, v1) is None
    assert revisions.number(repo.id, v1) == 1
    assert revisions.number(repo.id, v1) == 1
    assert revisions.number(repo.id, v2) == 2
    assert revisions.find(repo.id, v2) == 2


def test_a_revert_to_an_earlier_file_gets_its_earlier_number_back(stores, repo):
    revisions = stores.config_revisions
    v1, v2 = config_digest(FILE_V1), config_digest(FILE_V2)
    assert [revisions.number(repo.id, d) for d in (v1, v2, v1)] == [1, 2, 1]
    v3 = config_digest({".drone.yml": "kind: pipeline\nsteps:\n  - name: c\n"})
    assert revisions.number(repo.id, v3) == 3


def test_each_repository_counts_its_own_revisions(stores, repo):
    other = stores.repos.create("acme/other", forge="github", clone_url="file:///tmp/o.git")
    revisions = stores.config_revisions
    assert revisions.number(repo.id, config_digest(FILE_V1)) == 1
    assert revisions.number(other.id, config_digest(FILE_V2)) == 1
    assert revisions.number(other.id, config_digest(FILE_V1)) == 2
    assert revisions.find(repo.id, config_digest(FILE_V2)) is None


def test_servers_numbering_at_once_share_no_number_and_skip_none(database_url, repo):
    # Each thread on its own Database, as servers on one database; all number the same ten
    # contents, in different orders, at once.
    digests = [config_digest({".drone.yml": f"steps: [{i}]"}) for i in range(10)]
    databases = [Database(database_url) for _ in range(4)]
    seen: list[dict[str, int]] = []
    lock = threading.Lock()

    def number(db: Database, order: list[str]) -> None:
        store = ConfigRevisionStore(db)
        got = {digest: store.number(repo.id, digest) for digest in order}
        with lock:
            seen.append(got)

    orders = [digests, digests[::-1], digests[3:] + digests[:3], digests[::2] + digests[1::2]]
    pool = [
        threading.Thread(target=number, args=pair) for pair in zip(databases, orders, strict=True)
    ]
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join(120)
    finally:
        for db in databases:
            db.dispose()
    assert len(seen) == 4
    assert all(got == seen[0] for got in seen)  # every server got the same number per content
    assert sorted(seen[0].values()) == list(range(1, 11))
