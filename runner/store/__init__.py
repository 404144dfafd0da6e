"""The store: SQLAlchemy models, Alembic migrations, and one store per entity.

Stores hand out the dataclasses of ``runner.core`` (and ``runner.store.records``), never ORM
rows. Typical use::

    db = Database(settings.effective_database_url())
    db.migrate()
    stores = Stores(db, settings)
    stage = stores.stages.claim(agent)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.store.agents import AgentStore
from runner.store.audit import AuditEvent, AuditStore
from runner.store.bucket import BucketConfig, LogBucket
from runner.store.builds import BuildStore, stage_from_spec
from runner.store.config_revisions import ConfigRevisionStore, config_digest
from runner.store.crons import CronStore
from runner.store.crypto import Cipher, cipher_from_settings
from runner.store.db import Database
from runner.store.deliveries import HookDeliveryStore
from runner.store.deployments import DeploymentStore
from runner.store.environments import EnvironmentStore
from runner.store.history import ApprovalStore, BuildEventStore
from runner.store.logmover import LogMover
from runner.store.logs import DEFAULT_CAP, LogStore
from runner.store.registries import RegistryStore
from runner.store.repos import RepoStore
from runner.store.secrets import SecretStore
from runner.store.stages import LEASE_CANCEL, LEASE_LOST, LEASE_OK, StageStore
from runner.store.steps import StepStore
from runner.store.users import DEFAULT_HASH_METHOD, TokenStore, UserStore

if TYPE_CHECKING:
    from runner.settings import Settings


class Stores:
    """Every store over one database, one attribute each.

    With ``settings``, the log cap is ``settings.log_cap_bytes``, passwords are hashed by
    ``settings.password_hash_method`` and secrets use the key of ``settings.secret_key`` or
    ``<data_dir>/secret.key``. Without, the default cap and hash method apply and the secret key
    lives in memory only (tests), unless ``cipher`` is given.
    """

    def __init__(
        self, db: Database, settings: Settings | None = None, *, cipher: Cipher | None = None
    ) -> None:
        self.db = db
        if cipher is None:
            cipher = cipher_from_settings(settings) if settings is not None else Cipher.generate()
        cap = settings.log_cap_bytes if settings is not None else DEFAULT_CAP
        method = settings.password_hash_method if settings is not None else DEFAULT_HASH_METHOD
        self.users = UserStore(db, hash_method=method)
        self.tokens = TokenStore(db)
        self.repos = RepoStore(db, cipher)
        self.builds = BuildStore(db)
        self.stages = StageStore(db)
        self.steps = StepStore(db)
        bucket_config = BucketConfig.from_settings(settings) if settings is not None else None
        bucket = LogBucket(bucket_config) if bucket_config is not None else None
        self.logs = LogStore(db, cap_bytes=cap, bucket=bucket)
        self.log_mover = LogMover(db, bucket)
        self.secrets = SecretStore(db, cipher)
        self.registries = RegistryStore(db, cipher)
        self.crons = CronStore(db)
        self.agents = AgentStore(db)
        self.environments = EnvironmentStore(db)
        self.hook_deliveries = HookDeliveryStore(db)
        self.events = BuildEventStore(db)
        self.approvals = ApprovalStore(db)
        self.audit = AuditStore(db)
        self.deployments = DeploymentStore(db)
        self.config_revisions = ConfigRevisionStore(db)


__all__ = [
    "LEASE_CANCEL",
    "LEASE_LOST",
    "LEASE_OK",
    "AgentStore",
    "ApprovalStore",
    "AuditEvent",
    "AuditStore",
    "BuildEventStore",
    "BuildStore",
    "Cipher",
    "ConfigRevisionStore",
    "CronStore",
    "Database",
    "DeploymentStore",
    "EnvironmentStore",
    "HookDeliveryStore",
    "LogStore",
    "RegistryStore",
    "RepoStore",
    "SecretStore",
    "StageStore",
    "StepStore",
    "Stores",
    "TokenStore",
    "UserStore",
    "config_digest",
    "stage_from_spec",
]
