"""Logs in an S3-compatible bucket (moto's real S3 server on 127.0.0.1), on SQLite and
PostgreSQL: an ended stage's log moves into one object per step and reads back the same
through every reader while the database keeps no byte of it; a running stage's log stays;
deleting a log, a build or a repository, and retention, remove the objects; a second mover of
a log being moved writes nothing; a move that fails, dies or races a delete leaves no object
for good; a key the bucket refuses to delete waits alone; a bucket that is down costs the
move, never the log, and its readers fail fast."""

from __future__ import annotations

import dataclasses
import time

import pytest
from alembic import command
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from runner.core import RUNNING, SUCCESS
from runner.errors import NotFound, RunnerError, StorageUnavailable
from runner.settings import Settings
from runner.store import Cipher, Stores
from runner.store.bucket import BucketConfig, LogBucket
from runner.store.db import head_revision
from runner.store.logmover import MOVE_GRACE, RETRY_SECONDS, LogMover
from runner.store.models import LogChunkRow, LogObjectRemovalRow, StageRow
from runner.testing import CHEAP_PASSWORD_HASH, s3_server

from .helpers import make_build, make_stage
from .old_revisions import alembic_config


@pytest.fixture
def s3():
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket_stores(db, s3):
    settings = Settings(password_hash_method=CHEAP_PASSWORD_HASH, **s3.settings())
    return Stores(db, settings, cipher=Cipher.generate())


def _log(lines: int, start: int = 0) -> bytes:
    return b"".join(
        b"step output line %06d of the build\n" % i for i in range(start, start + lines)
    )


def _ended_step(stores, repo_id: int, status: str = SUCCESS) -> tuple[int, int]:
    build = stores.builds.create(make_build(repo_id, make_stage("test", status=status)))
    if status != RUNNING:
        with stores.db.write() as s:
            s.execute(update(StageRow).where(StageRow.build_id == build.id).values(finished=1000.0))
    return build.id, build.stages[0].steps[1].id


def _fill(stores, step_id: int, chunks: int = 30) -> list[bytes]:
    sent = [_log(400, start=i * 400) for i in range(chunks)] + [b"no newline at the end"]
    for seq, chunk in enumerate(sent):
        assert stores.logs.append(step_id, seq, chunk, elapsed_ms=seq)
    return sent


def _in_database(db, step_id: int) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.coalesce(func.sum(func.length(LogChunkRow.data)), 0)).where(
                    LogChunkRow.step_id == step_id
                )
            )
        )


def _views(stores, step_id: int) -> dict:
    return {
        "raw": b"".join(stores.logs.iter_raw(step_id)),
        "chunks": list(stores.logs.iter_chunks(step_id)),
        "page": stores.logs.page(step_id, 3, max_bytes=50_000),
        "tail": stores.logs.tail(step_id, max_bytes=30_000, max_lines=500),
        "lines": stores.logs.lines(step_id, 5_000, 20, max_chars=100_000),
        "search": stores.logs.search(step_id, "line 011999 ", limit=5, max_bytes=1 << 30),
        "size": stores.logs.size(step_id),
    }


def test_an_ended_log_moves_to_one_object_and_reads_back_the_same(db, bucket_stores, repo, s3):
    stores = bucket_stores
    build_id, step_id = _ended_step(stores, repo.id)
    sent = _fill(stores, step_id)
    before = _views(stores, step_id)
    assert before["search"].matches[0].line == 12_000
    assert _in_database(db, step_id) > 0

    assert stores.log_mover.move_ended() == (1, 1)
    assert stores.log_mover.move_ended() == (0, 0)  # nothing left to move
    assert _in_database(db, step_id) == 0
    [key] = s3.keys()
    assert key.startswith(f"ci/{repo.id}/{build_id}/{step_id}-") and key.endswith(".log")
    stored = s3.client.head_object(Bucket=s3.bucket, Key=key)["ContentLength"]
    assert stored < sum(len(chunk) for chunk in sent) // 3  # the chunks as stored, compressed

    assert _views(stores, step_id) == before


def test_a_running_stage_keeps_its_log_in_the_database(db, bucket_stores, repo, s3):
    _build_id, step_id = _ended_step(bucket_stores, repo.id, status=RUNNING)
    _fill(bucket_stores, step_id, chunks=2)
    assert bucket_stores.log_mover.move_ended() == (0, 0)
    assert s3.keys() == [] and _in_database(db, step_id) > 0


def test_deleting_logs_builds_and_repositories_removes_their_objects(db, bucket_stores, repo, s3):
    stores = bucket_stores
    steps = {}
    for name in ("log", "build", "retention"):
        steps[name] = _ended_step(stores, repo.id)
        _fill(stores, steps[name][1], chunks=2)
    other = stores.repos.create("acme/other", forge="github", clone_url="file:///tmp/o.git")
    steps["repository"] = _ended_step(stores, other.id)
    _fill(stores, steps["repository"][1], chunks=2)
    assert stores.log_mover.move_ended() == (4, 4)
    assert len(s3.keys()) == 4

    stores.logs.delete(steps["log"][1])
    stores.builds.delete(steps["build"][0])
    stores.repos.delete(other.id)
    assert len(_removals(db)) == 3
    assert len(s3.keys()) == 4  # objects go after the commit, at the mover's next pass
    assert stores.log_mover.remove_due() == 3
    [kept] = s3.keys()
    assert f"/{steps['retention'][1]}-" in kept

    assert stores.logs.purge_expired(now=2**40, default_days=1) == 3
    assert stores.log_mover.remove_due() == 1
    assert s3.keys() == [] and _removals(db) == []
    assert stores.logs.tail(steps["retention"][1], max_bytes=1000, max_lines=10).lines == []
    assert stores.log_mover.remove_due() == 0


class _HookedBucket(LogBucket):
    """The real bucket, with something done right after each object is written, and keys
    whose deletion it refuses as a bucket with object lock would."""

    def __init__(self, config, after_put=None, refuse=()):
        super().__init__(config)
        self.after_put, self.refuse = after_put, set(refuse)

    def put(self, key, source):
        super().put(key, source)
        if self.after_put is not None:
            self.after_put(key)

    def delete(self, key):
        if any(part in key for part in self.refuse):
            raise StorageUnavailable("refused")
        super().delete(key)


def _config(s3) -> BucketConfig:
    config = BucketConfig.from_settings(Settings(**s3.settings()))
    assert config is not None
    return config


def _removals(db) -> list[tuple]:
    with db.session() as s:
        return [
            tuple(row)
            for row in s.execute(
                select(
                    LogObjectRemovalRow.key,
                    LogObjectRemovalRow.step_id,
                    LogObjectRemovalRow.attempts,
                ).order_by(LogObjectRemovalRow.id)
            )
        ]


def test_a_second_mover_of_a_log_being_moved_writes_nothing(db, bucket_stores, repo, s3):
    build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=3)
    expected = b"".join(bucket_stores.logs.iter_raw(step_id))
    other = LogMover(db, LogBucket(_config(s3)))
    tries = []
    first = LogMover(
        db,
        _HookedBucket(
            _config(s3), after_put=lambda _key: tries.append(other.move(step_id, repo.id, build_id))
        ),
    )
    assert first.move(step_id, repo.id, build_id)
    assert tries == [False]  # the step was claimed: the other wrote no object
    assert len(s3.keys()) == 1 and _removals(db) == []
    assert b"".join(bucket_stores.logs.iter_raw(step_id)) == expected


def test_a_log_deleted_while_it_moves_leaves_no_object(db, bucket_stores, repo, s3):
    build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=3)
    mover = LogMover(
        db, _HookedBucket(_config(s3), after_put=lambda _key: bucket_stores.builds.delete(build_id))
    )
    assert mover.move(step_id, repo.id, build_id) is False
    assert len(s3.keys()) == 1  # written, and now no step refers to it
    assert bucket_stores.log_mover.remove_due() == 1
    assert s3.keys() == [] and _removals(db) == []


def test_a_move_that_fails_after_writing_frees_the_step_and_its_object_goes(
    db, bucket_stores, repo, s3
):
    build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=2)

    def fail(_key):
        raise OperationalError("UPDATE steps", {}, Exception("database is locked"))

    with pytest.raises(OperationalError):
        LogMover(db, _HookedBucket(_config(s3), after_put=fail)).move(step_id, repo.id, build_id)
    [(key, step, attempts)] = _removals(db)
    assert (step, attempts) == (None, 0)  # the step is free again; its object is due to go
    assert bucket_stores.log_mover.remove_due() == 1 and key not in s3.keys()
    assert bucket_stores.log_mover.move_ended() == (1, 1)
    assert len(s3.keys()) == 1 and _in_database(db, step_id) == 0


def test_the_object_of_a_move_that_died_is_removed_after_the_grace(db, bucket_stores, repo, s3):
    build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=2)
    died = LogMover(db, LogBucket(_config(s3)))
    # A move that wrote its object and never recorded it (its process was killed): its claim
    # stays, so no other move takes the step until the claim's grace has passed.
    claim = died._claim(step_id, "ci/dead.log")
    s3.client.put_object(Bucket=s3.bucket, Key="ci/dead.log", Body=b"x")
    assert bucket_stores.log_mover.move_ended() == (1, 0)
    assert bucket_stores.log_mover.remove_due() == 0  # not due yet
    later = time.time() + MOVE_GRACE + 1
    assert bucket_stores.log_mover.remove_due(now=later) == 1
    assert "ci/dead.log" not in s3.keys() and claim is not None
    assert bucket_stores.log_mover.move_ended() == (1, 1)


def test_a_key_the_bucket_refuses_to_delete_waits_and_holds_up_no_other(
    db, bucket_stores, repo, s3
):
    stores = bucket_stores
    steps = [_ended_step(stores, repo.id) for _ in range(3)]
    for _build_id, step_id in steps:
        _fill(stores, step_id, chunks=1)
    assert stores.log_mover.move_ended() == (3, 3)
    locked = f"/{steps[0][1]}-"
    for build_id, _step_id in steps:
        stores.builds.delete(build_id)
    mover = LogMover(db, _HookedBucket(_config(s3), refuse=[locked]))
    assert mover.remove_due() == 2
    [kept] = s3.keys()
    assert locked in kept
    [(key, step, attempts)] = _removals(db)
    assert locked in key and (step, attempts) == (None, 1)
    assert mover.remove_due() == 0  # waits before the next try
    assert mover.remove_due(now=time.time() + RETRY_SECONDS + 1) == 0
    assert _removals(db)[0][2] == 2  # refused again: tried later still
    assert stores.log_mover.remove_due(now=time.time() + 10 * RETRY_SECONDS) == 1
    assert s3.keys() == [] and _removals(db) == []


def test_a_bucket_that_is_down_costs_the_move_never_the_log(db, bucket_stores, repo, s3):
    stores = bucket_stores
    _build_id, moved = _ended_step(stores, repo.id)
    _fill(stores, moved, chunks=2)
    assert stores.log_mover.move_ended() == (1, 1)
    _build_id, waiting = _ended_step(stores, repo.id)
    sent = _fill(stores, waiting, chunks=2)
    s3.stop()
    with pytest.raises(StorageUnavailable, match="did not answer"):
        stores.log_mover.move_ended()
    assert _removals(db)[0][1] is None  # the step is free for the next pass
    assert b"".join(stores.logs.iter_raw(waiting)) == b"".join(sent) + b"\n"  # still here
    with pytest.raises(StorageUnavailable, match="did not answer") as refused:
        stores.logs.tail(moved, max_bytes=1000, max_lines=10)
    assert refused.value.http_status == 503 and s3.endpoint not in str(refused.value)
    # The next reads fail at once, without asking the bucket, instead of each waiting for it.
    with pytest.raises(StorageUnavailable, match="a moment ago"):
        stores.logs.lines(moved, 1, 5, max_chars=1000)


def test_an_object_gone_from_the_bucket_is_a_missing_log(db, bucket_stores, repo, s3):
    _build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=2)
    bucket_stores.log_mover.move_ended()
    [key] = s3.keys()
    s3.client.delete_object(Bucket=s3.bucket, Key=key)
    with pytest.raises(NotFound, match="no longer in the log bucket"):
        bucket_stores.logs.lines(step_id, 1, 5, max_chars=1000)


def test_a_moved_log_without_a_configured_bucket_says_so(db, bucket_stores, repo, s3):
    _build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=2)
    bucket_stores.log_mover.move_ended()
    plain = Stores(db, Settings(password_hash_method=CHEAP_PASSWORD_HASH))
    with pytest.raises(StorageUnavailable, match="no log_store configured"):
        plain.logs.tail(step_id, max_bytes=1000, max_lines=10)
    assert plain.log_mover.move_ended() == (0, 0)


def test_going_back_to_revision_0006_is_refused_while_logs_are_in_the_bucket(
    db, bucket_stores, repo, s3
):
    _build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=1)
    bucket_stores.log_mover.move_ended()
    with db.engine.begin() as conn, pytest.raises(RuntimeError, match="cannot read them"):
        command.downgrade(alembic_config(conn), "0006")
    assert db.revision() == head_revision()


def test_the_client_asks_for_checksums_only_where_s3_requires_them(s3):
    client = LogBucket(_config(s3))._client("mover")
    # Trailing CRC checksums (aws-chunked bodies) are refused by Aliyun OSS and others.
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    assert "runner-test-secret-key" not in repr(_config(s3))


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"log_store": "https://bucket/logs"}, "s3://BUCKET"),
        ({"log_store": "s3:///logs"}, "s3://BUCKET"),
        ({"log_store": "s3://bucket?x=1"}, "s3://BUCKET"),
        ({"log_store_addressing": "dns"}, "auto, path, virtual"),
        ({"log_store_secret_key": ""}, "go together"),
        ({"log_store": "s3://Bad_Bucket/logs"}, "S3 bucket name"),
        ({"log_store": "s3://user:pw@bucket/logs"}, "S3 bucket name"),
        ({"log_store_endpoint": "minio:9000"}, "http:// or https://"),
        ({"log_store_endpoint": "htp://x"}, "http:// or https://"),
    ],
)
def test_a_malformed_bucket_setting_is_refused_by_name(s3, changes, refusal):
    settings = dataclasses.replace(Settings(**s3.settings()), **changes)
    with pytest.raises(RunnerError, match=refusal):
        BucketConfig.from_settings(settings)
