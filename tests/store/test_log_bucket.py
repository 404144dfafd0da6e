"""Logs in an S3-compatible bucket (moto's real S3 server on 127.0.0.1), on SQLite and
PostgreSQL: an ended stage's log moves into one object per step and reads back the same
through every reader while the database keeps no byte of it; a running stage's log stays;
deleting a log, a build or a repository, and retention, remove the objects; two movers of one
log leave one object; a bucket that is down costs the move, never the log."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select, update

from runner.core import RUNNING, SUCCESS
from runner.errors import NotFound, RunnerError
from runner.settings import Settings
from runner.store import Cipher, Stores
from runner.store.bucket import BucketConfig, BucketUnavailable, LogBucket
from runner.store.logarchive import LogArchive
from runner.store.models import LogChunkRow, LogObjectTrashRow, StageRow
from runner.testing import CHEAP_PASSWORD_HASH, s3_server

from .helpers import make_build, make_stage


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
        "read": stores.logs.read(step_id),
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

    assert stores.log_archive.move_ended() == 1
    assert stores.log_archive.move_ended() == 0  # nothing left to move
    assert _in_database(db, step_id) == 0
    [key] = s3.keys()
    assert key.startswith(f"ci/{repo.id}/{build_id}/{step_id}-") and key.endswith(".log")
    stored = s3.client.head_object(Bucket=s3.bucket, Key=key)["ContentLength"]
    assert stored < sum(len(chunk) for chunk in sent) // 3  # the chunks as stored, compressed

    assert _views(stores, step_id) == before


def test_a_running_stage_keeps_its_log_in_the_database(db, bucket_stores, repo, s3):
    _build_id, step_id = _ended_step(bucket_stores, repo.id, status=RUNNING)
    _fill(bucket_stores, step_id, chunks=2)
    assert bucket_stores.log_archive.move_ended() == 0
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
    assert stores.log_archive.move_ended() == 4
    assert len(s3.keys()) == 4

    stores.logs.delete(steps["log"][1])
    stores.builds.delete(steps["build"][0])
    stores.repos.delete(other.id)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LogObjectTrashRow)) == 3
    assert len(s3.keys()) == 4  # objects go when the trash is emptied, after the commit
    assert stores.log_archive.empty_trash() == 3
    [kept] = s3.keys()
    assert f"/{steps['retention'][1]}-" in kept

    assert stores.logs.purge_expired(now=2**40, default_days=1) == 3
    assert stores.log_archive.empty_trash() == 1
    assert s3.keys() == []
    assert stores.logs.tail(steps["retention"][1], max_bytes=1000, max_lines=10).lines == []
    assert stores.log_archive.empty_trash() == 0


class _RacedBucket(LogBucket):
    """A bucket whose first write lets another mover move the same log first."""

    def __init__(self, config, other: LogArchive, step: tuple[int, int, int]):
        super().__init__(config)
        self.other, self.step, self.raced = other, step, False

    def put(self, key, source):
        super().put(key, source)
        if not self.raced:
            self.raced = True
            assert self.other.move(*self.step)


def test_two_movers_of_one_log_leave_one_object(db, bucket_stores, repo, s3):
    build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=3)
    expected = b"".join(bucket_stores.logs.iter_raw(step_id))
    config = BucketConfig.from_settings(Settings(**s3.settings()))
    first = LogArchive(db, LogBucket(config))
    second = LogArchive(db, _RacedBucket(config, first, (step_id, repo.id, build_id)))
    assert second.move(step_id, repo.id, build_id) is False  # the other recorded its object
    assert len(s3.keys()) == 1
    assert b"".join(bucket_stores.logs.iter_raw(step_id)) == expected


def test_a_bucket_that_is_down_costs_the_move_never_the_log(db, bucket_stores, repo, s3):
    stores = bucket_stores
    _build_id, moved = _ended_step(stores, repo.id)
    _fill(stores, moved, chunks=2)
    assert stores.log_archive.move_ended() == 1
    _build_id, waiting = _ended_step(stores, repo.id)
    sent = _fill(stores, waiting, chunks=2)
    s3.stop()
    with pytest.raises(BucketUnavailable, match="log bucket: writing"):
        stores.log_archive.move_ended()
    assert b"".join(stores.logs.iter_raw(waiting)) == b"".join(sent) + b"\n"  # still here
    with pytest.raises(BucketUnavailable, match="log bucket: reading") as refused:
        stores.logs.tail(moved, max_bytes=1000, max_lines=10)
    assert refused.value.http_status == 503


def test_an_object_gone_from_the_bucket_is_a_missing_log(db, bucket_stores, repo, s3):
    _build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=2)
    bucket_stores.log_archive.move_ended()
    [key] = s3.keys()
    s3.client.delete_object(Bucket=s3.bucket, Key=key)
    with pytest.raises(NotFound, match="no longer in the bucket"):
        bucket_stores.logs.lines(step_id, 1, 5, max_chars=1000)


def test_a_moved_log_without_a_configured_bucket_says_so(db, bucket_stores, repo, s3):
    _build_id, step_id = _ended_step(bucket_stores, repo.id)
    _fill(bucket_stores, step_id, chunks=2)
    bucket_stores.log_archive.move_ended()
    plain = Stores(db, Settings(password_hash_method=CHEAP_PASSWORD_HASH))
    with pytest.raises(BucketUnavailable, match="no log_store configured"):
        plain.logs.tail(step_id, max_bytes=1000, max_lines=10)
    assert plain.log_archive.move_ended() == 0


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"log_store": "https://bucket/logs"}, "s3://BUCKET"),
        ({"log_store": "s3:///logs"}, "s3://BUCKET"),
        ({"log_store": "s3://bucket?x=1"}, "s3://BUCKET"),
        ({"log_store_addressing": "dns"}, "auto, path, virtual"),
        ({"log_store_secret_key": ""}, "go together"),
    ],
)
def test_a_malformed_bucket_setting_is_refused_by_name(s3, changes, refusal):
    settings = dataclasses.replace(Settings(**s3.settings()), **changes)
    with pytest.raises(RunnerError, match=refusal):
        BucketConfig.from_settings(settings)
