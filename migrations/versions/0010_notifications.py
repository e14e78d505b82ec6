"""Notifications: reminders and events per person, daily digests, preferences; outbox emails
get an HTML part and headers; obligations get an index on their due date (the daily job reads
the duties due on a few days, not every duty).

Revision ID: 0010
Revises: 0009

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_emails") as batch:
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=True))
        batch.add_column(sa.Column("headers", sa.JSON(), nullable=True))
    op.create_index(
        "ix_obligations_due",
        "obligations",
        ["due"],
        postgresql_where=sa.text("due IS NOT NULL"),
        sqlite_where=sa.text("due IS NOT NULL"),
    )
    op.create_table(
        "notification_digests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "outbox_email_id", sa.Integer(), sa.ForeignKey("outbox_emails.id"), nullable=True
        ),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "day", name="uq_digest_user_day"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=True
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.id"), nullable=True),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "digest_id", sa.Integer(), sa.ForeignKey("notification_digests.id"), nullable=True
        ),
        sa.Column("dropped", sa.String(40), nullable=True),
        sa.UniqueConstraint("user_id", "key", name="uq_notification_user_key"),
    )
    op.create_index(
        "ix_notifications_unsent",
        "notifications",
        ["user_id"],
        postgresql_where=sa.text("digest_id IS NULL AND dropped IS NULL"),
        sqlite_where=sa.text("digest_id IS NULL AND dropped IS NULL"),
    )
    op.create_table(
        "notification_runs",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("muted_kinds", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("notification_preferences")
    op.drop_table("notification_runs")
    op.drop_index("ix_notifications_unsent", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_digests")
    op.drop_index("ix_obligations_due", table_name="obligations")
    with op.batch_alter_table("outbox_emails") as batch:
        batch.drop_column("headers")
        batch.drop_column("body_html")
