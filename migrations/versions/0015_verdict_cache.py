"""Figures worked out from an organisation's verdicts are cached in one table, a row per
organisation and kind (issue 22): the dashboard's counts by status, and the portfolio's trend,
which had a table of its own (trend_cache, migration 0014; dropped: a cache, nothing is lost).
Each row is checked against the verdicts' token of migration 0014, whose triggers already change
it whenever a verdict, a trial's owner or an organisation changes, so nothing more is watched.

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
    op.drop_table("trend_cache")


def downgrade():
    op.create_table(
        "trend_cache",
        sa.Column("organisation_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.drop_table("verdict_cache")
