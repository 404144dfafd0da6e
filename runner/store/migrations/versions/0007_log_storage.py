"""Log chunks stored compressed, their line counts kept beside them, and logs in a bucket.

- ``log_chunks.codec``: how ``data`` holds the chunk (0 as sent, 1 zlib); chunks stored before
  this revision stay as they were.
- ``log_chunks.lines``: the chunk's lines (its newlines, plus one when it does not end with
  one), counted here for the chunks already stored, so a line is found without reading the
  data of the chunks before it.
- ``log_chunks.stored`` and ``log_chunks.object_offset``: the bytes ``data`` holds, and where
  they start in the step's object once the log moved to the log bucket.
- ``steps.log_object``: that object's key; an index finds the steps whose log has not moved.
- ``log_object_removals``: objects of the bucket to remove (a deleted log's, or one a move is
  writing, until the move records it).
- ``repos.log_retention_days``: a repository's own log retention (0: the server's).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LOG_IN_DATABASE = "log_object IS NULL AND log_bytes > 0"

_COUNT_SQLITE = """
UPDATE log_chunks SET stored = length(data), lines =
    (length(data) - length(CAST(replace(data, X'0A', X'') AS BLOB)))
    + (CASE WHEN length(data) > 0 AND substr(data, length(data), 1) != X'0A' THEN 1 ELSE 0 END)
"""
# The escape encoding leaves a newline byte as itself and escapes NUL and high bytes.
_COUNT_POSTGRES = """
UPDATE log_chunks SET stored = length(data), lines =
    (length(encode(data, 'escape')) - length(replace(encode(data, 'escape'), E'\\n', '')))
    + (CASE WHEN length(data) > 0 AND substr(data, length(data), 1) <> '\\x0a'::bytea
       THEN 1 ELSE 0 END)
"""


def upgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("codec", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lines", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("stored", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("object_offset", sa.BigInteger(), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_COUNT_POSTGRES if postgres else _COUNT_SQLITE)
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_object", sa.String(length=1024), nullable=True))
    op.create_index(
        "ix_steps_log_in_database",
        "steps",
        ["id"],
        sqlite_where=sa.text(LOG_IN_DATABASE),
        postgresql_where=sa.text(LOG_IN_DATABASE),
    )
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("log_retention_days", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "log_object_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_object_removals")),
        sa.UniqueConstraint("step_id", name=op.f("uq_log_object_removals_step_id")),
    )


def downgrade() -> None:
    # The older schema reads every chunk from its row as stored: compressed chunks are
    # inflated first, and a log moved to the bucket could not be read at all.
    conn = op.get_bind()
    moved = conn.execute(sa.text("SELECT count(*) FROM steps WHERE log_object IS NOT NULL"))
    if moved.scalar():
        raise RuntimeError(
            "logs of this database are in the log bucket, and revision 0006 cannot read them: "
            "keep revision 0007 (or delete those builds first)"
        )
    pick = sa.text(
        "SELECT id, data FROM log_chunks WHERE codec = 1 AND id > :after ORDER BY id LIMIT 256"
    )
    put = sa.text("UPDATE log_chunks SET data = :data, codec = 0 WHERE id = :id")
    after = 0
    while True:
        rows = conn.execute(pick.bindparams(after=after)).all()
        if not rows:
            break
        for chunk_id, data in rows:
            conn.execute(put, {"id": chunk_id, "data": zlib.decompress(bytes(data))})
        after = rows[-1][0]
    op.drop_table("log_object_removals")
    op.drop_index("ix_steps_log_in_database", table_name="steps")
    # Not a batch: on SQLite that copies the table, and dropping the old one would cascade to
    # every row that refers to it. SQLite drops a column in place since 3.35.
    op.execute("ALTER TABLE steps DROP COLUMN log_object")
    op.execute("ALTER TABLE repos DROP COLUMN log_retention_days")
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.drop_column("object_offset")
        batch_op.drop_column("stored")
        batch_op.drop_column("lines")
        batch_op.drop_column("codec")
