"""The public tracker: registry-only UK verdicts per trial and sponsor, the day's changes,
organisations' opt-ins and sponsors' responses (issue 21).

Revision ID: 0013
Revises: 0012

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracker_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("sponsors", sa.Integer(), nullable=False),
        sa.Column("sponsor_trials", sa.Integer(), nullable=False),
        sa.Column("due", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
    )
    op.create_table(
        "tracker_sponsors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(length=120), nullable=False, unique=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("due", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=True),
    )
    for column in ("name", "due", "on_time", "late", "overdue", "percent"):
        op.create_index(f"ix_tracker_sponsors_{column}", "tracker_sponsors", [column])
    op.create_table(
        "tracker_trials",
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.id"), primary_key=True),
        sa.Column("sponsor_id", sa.Integer(), nullable=True),
        sa.Column("sponsor_name", sa.String(length=500), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("registry_ids", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("verdicts", sa.JSON(), nullable=False),
        sa.Column("registries", sa.JSON(), nullable=False),
        sa.Column("overdue_duties", sa.String(length=60), nullable=False),
        sa.Column("prev_overdue", sa.String(length=60), nullable=False),
    )
    op.create_index("ix_tracker_trials_sponsor", "tracker_trials", ["sponsor_id", "state"])
    op.create_table(
        "tracker_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.id"), nullable=False),
        sa.Column("duty", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
    )
    op.create_index("ix_tracker_changes_as_of", "tracker_changes", ["as_of"])
    op.create_table(
        "tracker_disclosures",
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_table(
        "tracker_responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.id"), nullable=False),
        sa.Column("duty", sa.String(length=20), nullable=False),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=False),
    )
    op.create_index("ix_tracker_responses_trial_id", "tracker_responses", ["trial_id"])
    op.create_index("ix_tracker_responses_status", "tracker_responses", ["status"])


def downgrade():
    op.drop_table("tracker_responses")
    op.drop_table("tracker_disclosures")
    op.drop_table("tracker_changes")
    op.drop_table("tracker_trials")
    op.drop_table("tracker_sponsors")
    op.drop_table("tracker_runs")
