"""One settings object for the server, the agent and the CLI.

Values come from, in order of precedence: test overrides, ``RUNNER_*`` environment variables,
a settings file (YAML, ``RUNNER_CONFIG`` or ``<data_dir>/runner.yml``), and the defaults below.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.labels import parse_labels
from runner.pipeline.trust import DEFAULT_PRIVILEGED_IMAGES


@dataclass
class Settings:
    data_dir: str = "~/.pipeline-runner"
    database_url: str = ""  # empty: SQLite in data_dir
    host: str = "127.0.0.1"
    port: int = 8080
    server_url: str = ""  # public address, for links and webhooks; empty: http://host:port
    secret_key: str = ""  # encryption key for secrets at rest; empty: generated into data_dir
    admin_password: str = ""  # first-start admin password; empty: generated and printed once
    # werkzeug's method for new password hashes (scrypt:N:R:P or pbkdf2:HASH:ITERATIONS); the
    # test harness sets a cheap one, a server never should.
    password_hash_method: str = "scrypt"
    workers_threads: int = 32  # request threads for short requests (API, UI, webhooks, RPC)
    # Long-lived requests get threads of their own on top of ``workers_threads``, admitted up to
    # these limits (see runner/server/admission.py), so they can never take the short requests'.
    live_streams_max: int = 64  # open live-log streams, all users together (beyond: 503)
    live_streams_per_user: int = 8  # open live-log streams of one user (beyond: 429)
    claim_waits_max: int = 64  # agents' long-polls waiting for work at once (beyond: 503)
    log_view_bytes: int = 1024 * 1024  # most log bytes one log view (tail, page) reads
    max_body_bytes: int = 5 * 1024 * 1024
    # Signed webhook deliveries per minute, per repository and in all; beyond: 429.
    hook_rate_per_repo: int = 120
    hook_rate_global: int = 1200
    # Refused webhook requests (unknown repository, bad signature) per minute from one client
    # address; beyond: 429 before the body is read.
    hook_rate_rejected: int = 60
    hook_replay_days: int = 90  # a signed body is refused again for this long
    log_cap_bytes: int = 64 * 1024 * 1024  # per step; the tail is kept
    log_retention_days: int = 0  # logs of builds finished longer ago are dropped; 0 keeps all
    # Logs in an S3-compatible bucket (runner/store/bucket.py): "s3://BUCKET/PREFIX" moves each
    # ended stage's log out of the database into the bucket; empty keeps logs in the database.
    log_store: str = ""
    log_store_endpoint: str = ""  # the S3 API's URL (MinIO, Aliyun OSS's S3 endpoint); empty: AWS
    log_store_region: str = ""
    log_store_access_key: str = ""  # both empty: boto3's own credential chain
    log_store_secret_key: str = ""
    log_store_addressing: str = "auto"  # auto, path (MinIO) or virtual (OSS)
    lease_seconds: int = 30
    lost_stage_policy: str = "requeue"  # requeue or fail
    # agent
    embedded_agent: bool = True
    agent_server: str = ""
    agent_token: str = ""
    agent_name: str = ""
    agent_labels: dict[str, str] = field(default_factory=dict)
    agent_capacity: int = 2
    # Drone's privileged plugins (run privileged as shipped) and this project's docker plugin
    # (allowed the Docker socket as shipped): runner.pipeline.trust.DEFAULT_PRIVILEGED_IMAGES.
    agent_privileged_images: list[str] = field(
        default_factory=lambda: list(DEFAULT_PRIVILEGED_IMAGES)
    )
    agent_environment: dict[str, str] = field(default_factory=dict)
    # extra labels on every container, volume and network the agent creates (tests, accounting)
    agent_engine_labels: dict[str, str] = field(default_factory=dict)
    agent_shutdown: str = "finish"  # finish or handback
    # metrics (runner/server/metrics.py): a Bearer token Prometheus scrapes ``/metrics`` with,
    # at least 16 characters; empty: only server admins' API tokens may read them.
    metrics_token: str = ""

    @property
    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.data_dir))

    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'runner.db'}"

    def effective_server_url(self) -> str:
        return (self.server_url or f"http://{self.host}:{self.port}").rstrip("/")


def _coerce(kind: Any, raw: str) -> Any:
    """Turn an environment variable's text into the field's type (``ValueError`` when it is
    not one: a mapping is ``k=v,k2=v2``, read by ``runner.labels.parse_labels``)."""
    text = str(kind)
    if "bool" in text:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if "int" in text and "dict" not in text and "list" not in text:
        return int(raw)
    if "dict" in text:
        return parse_labels(raw)
    if "list" in text:
        return [p.strip() for p in raw.split(",") if p.strip()]
    return raw


def load_settings(
    overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings: defaults → file → ``RUNNER_*`` environment → ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    data_dir = (overrides or {}).get("data_dir") or environ.get("RUNNER_DATA_DIR")
    data_dir = data_dir or Settings.data_dir
    config_file = environ.get("RUNNER_CONFIG") or os.path.join(
        os.path.expanduser(data_dir), "runner.yml"
    )
    if os.path.isfile(config_file):
        with open(config_file, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh) or {}
        values.update({k: v for k, v in loaded.items() if k in fields})
    for name, f in fields.items():
        raw = environ.get("RUNNER_" + name.upper())
        if raw is not None:
            values[name] = _coerce(f.type, raw)
    values.update(overrides or {})
    return Settings(**values)
