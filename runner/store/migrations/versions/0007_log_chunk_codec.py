"""Log chunks stored compressed, and each chunk's line count kept beside it.

- ``log_chunks.codec``: how ``data`` holds the chunk (0 as sent, 1 zlib); chunks stored before
  this revision stay as they were.
- ``log_chunks.lines``: the chunk's lines (its newlines, plus one when it does not end with
  one), counted here for the chunks already stored, so a line is found without reading the
  data of the chunks before it.

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

_COUNT_SQLITE = """
UPDATE log_chunks SET lines =
    (length(data) - length(CAST(replace(data, X'0A', X'') AS BLOB)))
    + (CASE WHEN length(data) > 0 AND substr(data, length(data), 1) != X'0A' THEN 1 ELSE 0 END)
"""
# The escape encoding leaves a newline byte as itself and escapes NUL and high bytes.
_COUNT_POSTGRES = """
UPDATE log_chunks SET lines =
    (length(encode(data, 'escape')) - length(replace(encode(data, 'escape'), E'\\n', '')))
    + (CASE WHEN length(data) > 0 AND substr(data, length(data), 1) <> '\\x0a'::bytea
       THEN 1 ELSE 0 END)
"""


def upgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("codec", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lines", sa.Integer(), nullable=False, server_default="0"))
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_COUNT_POSTGRES if postgres else _COUNT_SQLITE)


def downgrade() -> None:
    # The older schema reads every chunk as it is stored: inflate the compressed ones first.
    conn = op.get_bind()
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
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.drop_column("lines")
        batch_op.drop_column("codec")
