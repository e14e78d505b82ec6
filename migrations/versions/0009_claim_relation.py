"""A claim records the claimant's relation to the trial (sponsor, legal representative, ...).

Revision ID: 0009
Revises: 0008

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("relation", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("relation_detail", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("relation_detail")
        batch.drop_column("relation")
