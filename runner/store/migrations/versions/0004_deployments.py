"""Deployments, configuration revisions, approval rules and the repository event log.

- ``deployments``: one row per deployment of a build to an environment.
- ``config_revisions`` and ``builds.config_revision``: the distinct pipeline configurations a
  repository has built, numbered (``CI_CONFIG_REVISION``).
- ``environments.four_eyes``, ``approvals_required``, ``rollback_exempt``: approval rules.
- ``audit_events.repo_id``: the repository an event log entry belongs to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repos.id"],
            name=op.f("fk_config_revisions_repo_id_repos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_revisions")),
        sa.UniqueConstraint("repo_id", "digest", name=op.f("uq_config_revisions_repo_id_digest")),
        sa.UniqueConstraint(
            "repo_id", "revision", name=op.f("uq_config_revisions_repo_id_revision")
        ),
    )
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_config_revisions_repo_id"), ["repo_id"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=200), nullable=False),
        sa.Column("build_id", sa.Integer(), nullable=False),
        sa.Column("build_number", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.String(length=500), nullable=False),
        sa.Column("version", sa.String(length=300), nullable=False),
        sa.Column("image", sa.String(length=500), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("traffic_share", sa.Integer(), nullable=True),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.JSON(), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("finished", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["builds.id"],
            name=op.f("fk_deployments_build_id_builds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_deployments_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_build_id"), ["build_id"], unique=False)
        batch_op.create_index(
            "ix_deployments_repo_environment", ["repo_id", "environment", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deployments_repo_id"), ["repo_id"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repo_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_repo_id"), ["repo_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_events_repo_id_repos"),
            "repos",
            ["repo_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("config_revision", sa.Integer(), nullable=False, server_default="0")
        )

    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("four_eyes", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("approvals_required", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("rollback_exempt", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.drop_column("rollback_exempt")
        batch_op.drop_column("approvals_required")
        batch_op.drop_column("four_eyes")

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_column("config_revision")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_audit_events_repo_id_repos"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_audit_events_repo_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_kind"))
        batch_op.drop_column("repo_id")

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_repo_id"))
        batch_op.drop_index("ix_deployments_repo_environment")
        batch_op.drop_index(batch_op.f("ix_deployments_build_id"))

    op.drop_table("deployments")
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_revisions_repo_id"))

    op.drop_table("config_revisions")
