"""The facts behind a trial's verdicts stored once per trial (obligation_inputs), not in every
verdict; obligations lose their status and due indexes and leave room for in-place updates.

Verdicts stored before this revision still carry their own ``inputs`` and are read as before;
the next recompute (daily, or ``flask obligations recompute-all``) rewrites them in the new form.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 18:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "obligation_inputs",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_obligation_inputs_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("trial_id", name=op.f("pk_obligation_inputs")),
    )
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligations_status"))
        batch_op.drop_index(batch_op.f("ix_obligations_due"))
    if op.get_bind().dialect.name == "postgresql":
        # The daily recompute rewrites the verdicts whose day counts moved: free space on each
        # page lets PostgreSQL update them in place (HOT), without touching the indexes.
        op.execute("ALTER TABLE obligations SET (fillfactor = 70)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE obligations RESET (fillfactor)")
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_obligations_due"), ["due"], unique=False)
        batch_op.create_index(batch_op.f("ix_obligations_status"), ["status"], unique=False)
    op.drop_table("obligation_inputs")
