"""A real S3-compatible server for tests and benchmarks (``runner.testing``): moto's server on
127.0.0.1 and a free port, with one empty bucket, for the time of a ``with`` block.

    with s3_server() as s3:
        env = s3.server_env()           # RUNNER_LOG_STORE* for a ServerProcess
        s3.keys()                       # the bucket's object keys

moto is a test dependency (``pipeline-runner[test]``), imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ACCESS_KEY = "runner-test-access"
SECRET_KEY = "runner-test-secret-key"
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running S3 server with one bucket; ``client`` is a boto3 client for it."""

    endpoint: str
    bucket: str
    prefix: str
    client: Any
    _server: Any

    @property
    def log_store(self) -> str:
        """The ``log_store`` setting naming this bucket and prefix."""
        return f"s3://{self.bucket}/{self.prefix}"

    def settings(self) -> dict[str, str]:
        """``Settings`` fields that put a server's logs in this bucket."""
        return {
            "log_store": self.log_store,
            "log_store_endpoint": self.endpoint,
            "log_store_region": REGION,
            "log_store_access_key": ACCESS_KEY,
            "log_store_secret_key": SECRET_KEY,
            "log_store_addressing": "path",
        }

    def server_env(self) -> dict[str, str]:
        """The same as ``RUNNER_*`` environment variables, for ``ServerProcess(extra_env=)``."""
        return {f"RUNNER_{name.upper()}": value for name, value in self.settings().items()}

    def keys(self) -> list[str]:
        """The keys of every object in the bucket, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def stop(self) -> None:
        """Stop answering, as a bucket that went away."""
        self._server.stop()


@contextmanager
def s3_server(bucket: str = "runner-logs", prefix: str = "ci") -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 with ``bucket`` made empty; stopped at the end."""
    import logging

    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    # The server logs every request it answers: keep its warnings and errors only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # Every moto server of one process shares one store of objects: start from none.
        requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        client.create_bucket(Bucket=bucket)
        yield S3Server(endpoint, bucket, prefix, client, server)
    finally:
        server.stop()
