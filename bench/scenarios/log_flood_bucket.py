"""log-flood with the logs in an S3-compatible bucket (moto's S3 server on 127.0.0.1): the
same 47 MB step, then the time until the log has moved out of the database (the mover's tick
is 5 s), the bytes the database keeps for it and the object's size, and the download served
from the bucket; same targets as log-flood (the stored ratio is the object's).
"""

from __future__ import annotations

import time

from bench.scenarios.log_flood import flood
from runner.testing import s3_server


def run() -> dict:
    with s3_server() as s3:

        def wait_moved(server) -> dict:
            started = time.perf_counter()
            deadline = time.monotonic() + 120
            while not s3.keys():
                if time.monotonic() > deadline:
                    raise RuntimeError("the log never moved into the bucket")
                time.sleep(0.2)
            [key] = s3.keys()
            size = s3.client.head_object(Bucket=s3.bucket, Key=key)["ContentLength"]
            return {"after_finish_s": round(time.perf_counter() - started, 2), "object_bytes": size}

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
