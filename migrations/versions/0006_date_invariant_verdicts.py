"""Stored verdicts no longer carry day counts; each trial keeps the facts its verdicts were worked
out from, and a digest of those verdicts, so the daily recompute can re-evaluate every trial from
one row and write only what changed.

``obligations.days_overdue`` is dropped: the days overdue (or remaining) change every day and are
worked out when shown (``Obligation.days_overdue_on``), so a verdict is rewritten only when its
status, dates or facts change. ``obligation_inputs`` gains ``facts`` (the validated facts as
``Facts.from_dict`` reads them, with their sources) and ``digest`` (of the trial's stored verdict
texts). Rows from before this revision have neither; the next recompute fills them in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 21:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("obligation_inputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=32), nullable=True))
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_column("days_overdue")
    if op.get_bind().dialect.name == "postgresql":
        # A row (inputs + facts, ~2.5 kB) is over the 2 kB at which PostgreSQL would compress it
        # on every write; keeping rows of up to a page inline and uncompressed halves the
        # database's CPU for the first computation of a trial.
        op.execute("ALTER TABLE obligation_inputs SET (toast_tuple_target = 8160)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE obligation_inputs RESET (toast_tuple_target)")
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("days_overdue", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("obligations", schema=None) as batch_op:  # as 0002 made it
        batch_op.alter_column("days_overdue", server_default=None)
    with op.batch_alter_table("obligation_inputs", schema=None) as batch_op:
        batch_op.drop_column("digest")
        batch_op.drop_column("facts")
