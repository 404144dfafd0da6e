"""The ORM schema. Rows never leave ``runner.store``: each store converts them to dataclasses.

Every change here needs a new Alembic revision in ``runner/store/migrations/versions`` (the
tests compare the migrated schema with these models).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so later migrations can alter them on SQLite (batch mode) and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# A step whose log has bytes in the database, not yet moved to the log bucket.
LOG_IN_DATABASE = "log_object IS NULL AND log_bytes > 0"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(row_class: type[Base]) -> Table:
    """The Core table of a row class, for the hot paths that build statements on tables."""
    found = row_class.__table__
    assert isinstance(found, Table)
    return found


def _fk(target: str, *, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        Integer, ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=True
    )


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised on logout and password change: a session cookie carries the epoch it was
    # issued in and is refused once the user's epoch has moved on.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[float] = mapped_column(Float, default=0.0)
    # The web UI's colour theme: "" follows the system, else "light" or "dark".
    theme: Mapped[str] = mapped_column(String(10), default="")


class TokenRow(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = _fk("users.id", nullable=True)
    agent_id: Mapped[int | None] = _fk("agents.id", nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float, default=0.0)
    last_used: Mapped[float] = mapped_column(Float, default=0.0)


class RepoRow(Base):
    __tablename__ = "repos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(300), unique=True)
    forge: Mapped[str] = mapped_column(String(20), default="generic")
    clone_url: Mapped[str] = mapped_column(Text, default="")
    default_branch: Mapped[str] = mapped_column(String(200), default="main")
    webhook_secret: Mapped[str] = mapped_column(String(200), default="")
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    timeout: Mapped[int] = mapped_column(Integer, default=3600)
    # Days a finished build's logs are kept; 0 follows the server's ``log_retention_days``.
    log_retention_days: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    pipeline_path: Mapped[str] = mapped_column(String(500), default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    forge_token: Mapped[str] = mapped_column(Text, default="")
    forge_url: Mapped[str] = mapped_column(Text, default="")
    build_counter: Mapped[int] = mapped_column(Integer, default=0)
    # The generic JSON webhook starts builds only where it is switched on.
    generic_hook: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fork pull requests may run allow-listed privileged plugins only where this is on.
    fork_privileged: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float, default=0.0)


class PermissionRow(Base):
    __tablename__ = "permissions"
    __table_args__ = (UniqueConstraint("user_id", "repo_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = _fk("users.id")
    repo_id: Mapped[int] = _fk("repos.id")
    role: Mapped[str] = mapped_column(String(20))


class BuildRow(Base):
    __tablename__ = "builds"
    __table_args__ = (
        UniqueConstraint("repo_id", "number"),
        Index("ix_builds_status", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    number: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    ref: Mapped[str] = mapped_column(String(500), default="")
    branch: Mapped[str] = mapped_column(String(300), default="")
    tag: Mapped[str] = mapped_column(String(300), default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    target: Mapped[str] = mapped_column(String(200), default="")
    parent: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(200), default="")
    config_revision: Mapped[int] = mapped_column(Integer, default=0)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[float] = mapped_column(Float, default=0.0)
    started: Mapped[float] = mapped_column(Float, default=0.0)
    finished: Mapped[float] = mapped_column(Float, default=0.0)


class StageRow(Base):
    __tablename__ = "stages"
    __table_args__ = (Index("ix_stages_status", "status", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = _fk("builds.id")
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    depends_on: Mapped[list[str]] = mapped_column(JSON, default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    agent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    )
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[float] = mapped_column(Float, default=0.0)
    started: Mapped[float] = mapped_column(Float, default=0.0)
    finished: Mapped[float] = mapped_column(Float, default=0.0)


class StepRow(Base):
    __tablename__ = "steps"
    # The log mover's candidates: steps whose log is still in the database (few, however many
    # steps there are).
    __table_args__ = (
        Index(
            "ix_steps_log_in_database",
            "id",
            sqlite_where=text(LOG_IN_DATABASE),
            postgresql_where=text(LOG_IN_DATABASE),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage_id: Mapped[int] = _fk("stages.id")
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    exit_code: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    started: Mapped[float] = mapped_column(Float, default=0.0)
    finished: Mapped[float] = mapped_column(Float, default=0.0)
    log_bytes: Mapped[int] = mapped_column(Integer, default=0)
    log_cut_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # The key of the object in the log bucket that holds this step's log once its stage ended
    # and the log moved there (runner/store/logmover.py); NULL while it is in the database.
    log_object: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class LogChunkRow(Base):
    """A batch of log lines of one step, stored as one blob (never a row per line)."""

    __tablename__ = "log_chunks"
    __table_args__ = (UniqueConstraint("step_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("steps.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    # Milliseconds from the step's start to its lines (the agent's stamp of the batch); None
    # for chunks stored before the column existed.
    elapsed_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # How ``data`` holds the chunk (``runner.store.logcodec``); ``size`` is its length unpacked.
    codec: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The chunk's lines as ``runner.logtext.count_lines`` counts them, so numbering a line
    # never reads the data of the chunks before it.
    lines: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The bytes ``data`` holds, or held before the chunk moved into its step's object in the
    # log bucket, where it now starts at ``object_offset`` (NULL while it is in ``data``).
    stored: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    object_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LogObjectRemovalRow(Base):
    """An object of the log bucket to remove once ``not_before`` has passed, unless a step
    refers to it: the object of a deleted log (written in the transaction that deletes the
    log), or one a move is writing for ``step_id`` (written before the object; the move
    deletes the row when it records the object, so an object whose move never completed is
    removed). See ``runner.store.logmover``."""

    __tablename__ = "log_object_removals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(1024))
    # The step a move under way writes for: one move per step at a time (NULLs are distinct).
    step_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class SecretRow(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("repo_id", "name", "environment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    allow_pull_request: Mapped[bool] = mapped_column(Boolean, default=False)
    environment: Mapped[str] = mapped_column(String(200), default="")
    # Drone 0.8's --skip-verify: ${NAME} in a Drone 0.8 file stands for the value.
    substitute: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float, default=0.0)


class RegistryRow(Base):
    __tablename__ = "registries"
    __table_args__ = (UniqueConstraint("repo_id", "hostname"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    hostname: Mapped[str] = mapped_column(String(300))
    username: Mapped[str] = mapped_column(String(300))
    password: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token
    created: Mapped[float] = mapped_column(Float, default=0.0)


class CronRow(Base):
    __tablename__ = "crons"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    name: Mapped[str] = mapped_column(String(200))
    schedule: Mapped[str] = mapped_column(String(200))
    branch: Mapped[str] = mapped_column(String(300), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run: Mapped[float] = mapped_column(Float, default=0.0)
    created: Mapped[float] = mapped_column(Float, default=0.0)


class AgentRow(Base):
    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The labels registered by an admin: what the agent may take. A claim can only narrow them.
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # What the agent announced on its last contact (shown; never trusted for routing).
    declared_labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Repository slug patterns and environment names the agent may serve; empty: any.
    allowed_repos: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_environments: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[str] = mapped_column(String(100), default="")
    platform: Mapped[str] = mapped_column(String(100), default="linux/amd64")
    last_contact: Mapped[float] = mapped_column(Float, default=0.0)
    running: Mapped[int] = mapped_column(Integer, default=0)
    # Empty while the agent can run stages; else why not (its Docker engine is down, say).
    unhealthy: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[float] = mapped_column(Float, default=0.0)


class EnvironmentRow(Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    name: Mapped[str] = mapped_column(String(200))
    branches: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    lock: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("builds.id", ondelete="SET NULL"), nullable=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Approval rules: the approver must differ from the build's sender and author; how many
    # distinct people must approve; whether a rollback skips approval.
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=False)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    rollback_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float, default=0.0)


class DeploymentRow(Base):
    """One deployment of a build to an environment (automatic, promote or rollback)."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_repo_environment", "repo_id", "environment", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    environment: Mapped[str] = mapped_column(String(200))
    build_id: Mapped[int] = _fk("builds.id")
    build_number: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(30))
    commit: Mapped[str] = mapped_column(String(64), default="")
    ref: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[str] = mapped_column(String(300), default="")
    image: Mapped[str] = mapped_column(String(500), default="")
    strategy: Mapped[str] = mapped_column(String(30), default="")
    state: Mapped[str] = mapped_column(String(30), default="pending")
    traffic_share: Mapped[int | None] = mapped_column(Integer, nullable=True)  # percent
    sender: Mapped[str] = mapped_column(String(200), default="")
    approved_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    agent: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[float] = mapped_column(Float, default=0.0)
    started: Mapped[float] = mapped_column(Float, default=0.0)
    finished: Mapped[float] = mapped_column(Float, default=0.0)


class ConfigRevisionRow(Base):
    """A distinct pipeline configuration a repository has built, numbered from 1."""

    __tablename__ = "config_revisions"
    __table_args__ = (
        UniqueConstraint("repo_id", "digest"),
        UniqueConstraint("repo_id", "revision"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the files, names and contents
    revision: Mapped[int] = mapped_column(Integer)
    created: Mapped[float] = mapped_column(Float, default=0.0)


class HookDeliveryRow(Base):
    __tablename__ = "hook_deliveries"
    __table_args__ = (
        UniqueConstraint("repo_id", "delivery_id"),
        Index("ix_hook_deliveries_body", "repo_id", "body_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = _fk("repos.id")
    delivery_id: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the signed body: a replay with a new delivery header is still the same body.
    body_hash: Mapped[str] = mapped_column(String(64), default="")
    build_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("builds.id", ondelete="SET NULL"), nullable=True
    )
    created: Mapped[float] = mapped_column(Float, default=0.0, index=True)


class BuildEventRow(Base):
    """The history of a build: requeues, approvals, cancels, promotions, with who and why."""

    __tablename__ = "build_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = _fk("builds.id")
    stage_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[float] = mapped_column(Float, default=0.0)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = _fk("builds.id")
    stage_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    login: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(20))  # approved or declined
    comment: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[float] = mapped_column(Float, default=0.0)


class AuditEventRow(Base):
    """Who changed what outside a build: agents' labels and scopes, settings, users."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The repository the entry belongs to; None for the server's own (users, agents, tokens).
    repo_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("repos.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(50), index=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[float] = mapped_column(Float, default=0.0, index=True)
