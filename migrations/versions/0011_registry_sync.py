"""Registry sync: a cursor and page progress per source, organisations' watch lists (issue 19).

Revision ID: 0011
Revises: 0010

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registry_sync_states",
        sa.Column("source", sa.String(length=20), primary_key=True),
        sa.Column("cursor_on", sa.Date(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("import_runs.id"), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("audited_change_id", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "registry_watches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("added_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organisation_id", "kind", "value"),
    )
    op.create_index("ix_registry_watches_organisation_id", "registry_watches", ["organisation_id"])


def downgrade():
    op.drop_index("ix_registry_watches_organisation_id", table_name="registry_watches")
    op.drop_table("registry_watches")
    op.drop_table("registry_sync_states")
