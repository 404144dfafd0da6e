"""Trust and identity: agents' registered scope, session epochs, repository hook switches,
signed-body replay guard and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generic_hook", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("fork_privileged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("declared_labels", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(
            sa.Column("allowed_repos", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("allowed_environments", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("unhealthy", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("hook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("body_hash", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.create_index("ix_hook_deliveries_body", ["repo_id", "body_hash"], unique=False)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_created"), ["created"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_created"))
    op.drop_table("audit_events")
    with op.batch_alter_table("hook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_hook_deliveries_body")
        batch_op.drop_column("body_hash")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        for column in ("unhealthy", "allowed_environments", "allowed_repos", "declared_labels"):
            batch_op.drop_column(column)
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.drop_column("fork_privileged")
        batch_op.drop_column("generic_hook")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
