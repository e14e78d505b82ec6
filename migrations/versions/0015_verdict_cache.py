"""The dashboard's counts by status are cached per organisation (issue 22), checked against the
verdicts' token of migration 0014 (its triggers already change it whenever a verdict, a trial's
owner or an organisation changes, so nothing more is watched).

Revision ID: 0015
Revises: 0014

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "verdict_cache",
        sa.Column("organisation_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(length=40), primary_key=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("verdict_cache")
