"""The officer's home page and the portfolio report read a cached trend (issue 18): a table of
each organisation's last trend, and a token that database triggers change whenever a stored
verdict, or a trial's owner, changes, so a cached trend is never used after its verdicts change.

Revision ID: 0014
Revises: 0013

"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# What a trend counts: the obligations, and which organisation owns each trial (a deleted
# organisation's id may be given again on SQLite).
WATCHED = (
    ("obligations", "INSERT OR UPDATE OR DELETE"),
    ("trials", "UPDATE OF owner_organisation_id OR DELETE"),
    ("organisations", "DELETE"),
)

# A row trigger's WHEN is evaluated as each row changes (a deferred one's too), so only the rows
# of a transaction's first statement that changes any queue the two triggers: a recompute of
# thousands of verdicts costs a few calls, not one per row at its commit.
NOT_TOUCHED = "current_setting('portal.verdicts_touched', true) IS DISTINCT FROM '1'"

PG_FUNCTIONS = """
CREATE FUNCTION portal_verdicts_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- this transaction's own reads must not use (or fill) the cache before it commits; and
    -- its change to the token is queued already (both triggers skip the later rows: WHEN)
    PERFORM set_config('portal.verdicts_touched', '1', true);
    RETURN NULL;
END $$;

CREATE FUNCTION portal_verdicts_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- deferred to the commit, and once per transaction
    IF current_setting('portal.verdicts_bumped', true) IS DISTINCT FROM '1' THEN
        PERFORM set_config('portal.verdicts_bumped', '1', true);
        INSERT INTO verdicts_version (id, token) VALUES (1, gen_random_uuid()::text)
        ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade():
    op.create_table(
        "verdicts_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(length=36), nullable=False),
    )
    op.create_table(
        "trend_cache",
        sa.Column("organisation_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        for table, events in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_verdicts_touched AFTER {events} ON {table} "
                f"FOR EACH ROW WHEN ({NOT_TOUCHED}) EXECUTE FUNCTION portal_verdicts_touched()"
            )
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_verdicts_bump AFTER {events} ON {table} "
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({NOT_TOUCHED}) "
                "EXECUTE FUNCTION portal_verdicts_bump()"
            )
        op.execute("INSERT INTO verdicts_version (id, token) VALUES (1, gen_random_uuid()::text)")
    else:
        bump = (
            "INSERT OR REPLACE INTO verdicts_version (id, token) "
            "VALUES (1, lower(hex(randomblob(16))))"
        )
        for table, events in WATCHED:
            for i, event in enumerate(events.split(" OR ")):
                op.execute(
                    f"CREATE TRIGGER {table}_verdicts_bump_{i} AFTER {event} ON {table} "
                    f"BEGIN {bump}; END"
                )
        op.execute(bump)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, _events in WATCHED:
            op.execute(f"DROP TRIGGER {table}_verdicts_bump ON {table}")
            op.execute(f"DROP TRIGGER {table}_verdicts_touched ON {table}")
        op.execute("DROP FUNCTION portal_verdicts_bump()")
        op.execute("DROP FUNCTION portal_verdicts_touched()")
    else:
        for table, events in WATCHED:
            for i, _event in enumerate(events.split(" OR ")):
                op.execute(f"DROP TRIGGER {table}_verdicts_bump_{i}")
    op.drop_table("trend_cache")
    op.drop_table("verdicts_version")
