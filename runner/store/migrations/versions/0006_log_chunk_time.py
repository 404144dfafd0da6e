"""When each log chunk's lines were printed, relative to their step's start.

- ``log_chunks.elapsed_ms``: milliseconds from the step's start to the moment its agent gathered
  the chunk's lines (the time of every line of the chunk); NULL for chunks stored before this
  revision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("elapsed_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.drop_column("elapsed_ms")
