"""log-flood with the logs in an S3-compatible bucket (moto's S3 server on 127.0.0.1): the
same 47 MB step, then the time from the build's end until the log has moved out of the
database (the mover's tick is 5 s), the bytes the database keeps for it and the object's size,
and the download served from the bucket; same targets as log-flood (the stored ratio is the
object's).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bench.scenarios.log_flood import flood
from runner.testing import s3_server


def _moved_key(database: Path) -> str | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT log_object FROM steps WHERE log_object IS NOT NULL")
        row = found.fetchone()
        return row[0] if row else None


def run() -> dict:
    with s3_server() as s3:

        def wait_moved(server) -> dict:
            # The key is recorded on the step in the move's last transaction: after it the
            # database holds no byte of the log.
            deadline = time.monotonic() + 120
            while (key := _moved_key(server.data_dir / "runner.db")) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the log never moved into the bucket")
                time.sleep(0.1)
            finished = server.builds()[0]["finished"]
            size = s3.client.head_object(Bucket=s3.bucket, Key=key)["ContentLength"]
            return {"after_finish_s": round(time.time() - finished, 2), "object_bytes": size}

        result = flood(s3.server_env(), wait_moved=wait_moved)
    moved = result["moved"]
    result["scenario"] = "log-flood-bucket"
    result["stored_ratio"] = round(moved["object_bytes"] / result["log_bytes_expected"], 3)
    result["target"] = result["target"] + ", database keeps no log byte"
    result["ok"] = (
        result["ok"]
        and result["stored_bytes"] == 0
        and moved["object_bytes"] * 3 <= result["log_bytes_expected"]
    )
    return result
