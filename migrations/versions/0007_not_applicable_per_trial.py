"""Verdicts of not applicable are stored once per trial, not as obligations rows.

``obligation_inputs.not_applicable`` holds a trial's not-applicable verdicts, grouped by verdict
text (``portal.obligations.stored``); the ``obligations`` table keeps the other verdicts. Nine
verdicts in ten of a typical import are not applicable, and as rows they were most of the
database's work in an import.

The upgrade moves the not-applicable rows of every trial that has an ``obligation_inputs`` row
into that row (a trial without one keeps its rows until it is recomputed; pages show both). The
verdicts' digests were made from the rows' texts, so the next daily recompute finds them
changed, compares each trial's verdicts once and stores the new digests: it rewrites no verdict.

The code here is frozen with this revision: it imports nothing of the application's but the
static table of duties (their titles and sources, for the downgrade).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 02:30:00

"""

import json
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

HIDDEN = ("id", "ruleset", "title", "source")
NOT_APPLICABLE = "not_applicable"
BATCH = 2000


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _tables():
    meta = sa.MetaData()
    obligations = sa.Table(
        "obligations",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer),
        sa.Column("duty", sa.String(20)),
        sa.Column("ruleset", sa.String(20)),
        sa.Column("status", sa.String(20)),
        sa.Column("due", sa.Date),
        sa.Column("verdict", sa.Text),
        sa.Column("params_version", sa.Integer),
        sa.Column("as_of", sa.Date),
        sa.Column("computed_at", sa.DateTime(timezone=True)),
    )
    inputs = sa.Table(
        "obligation_inputs",
        meta,
        sa.Column("trial_id", sa.Integer, primary_key=True),
        sa.Column("not_applicable", sa.Text),
        sa.Column("computed_at", sa.DateTime(timezone=True)),
    )
    return obligations, inputs


def _text(column):
    return sa.cast(column, sa.Text)


def upgrade():
    with op.batch_alter_table("obligation_inputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_applicable", sa.JSON(), nullable=True))
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    obligations, inputs = _tables()
    doc = sa.bindparam("_doc", type_=sa.Text)
    store = (
        sa.update(inputs)
        .where(inputs.c.trial_id == sa.bindparam("_trial"))
        .values(not_applicable=sa.cast(doc, sa.JSON) if postgres else doc)
    )
    last = 0
    while True:  # trials with stored inputs, BATCH at a time, in id order
        ids = list(
            bind.execute(
                sa.select(inputs.c.trial_id)
                .where(inputs.c.trial_id > last)
                .order_by(inputs.c.trial_id)
                .limit(BATCH)
            ).scalars()
        )
        if not ids:
            break
        last = ids[-1]
        rows = bind.execute(
            sa.select(
                obligations.c.id,
                obligations.c.trial_id,
                obligations.c.duty,
                _text(obligations.c.verdict),
                obligations.c.as_of,
            )
            .where(obligations.c.status == NOT_APPLICABLE, obligations.c.trial_id.in_(ids))
            .order_by(obligations.c.trial_id, obligations.c.id)
        ).all()
        docs: dict[int, dict[tuple[str, str], list[str]]] = {}
        for _id, trial_id, duty, text, as_of in rows:
            verdict = json.loads(text)
            for key in HIDDEN:
                verdict.pop(key, None)
            day = as_of if isinstance(as_of, str) else as_of.isoformat()
            docs.setdefault(trial_id, {}).setdefault((_dumps(verdict), day), []).append(duty)
        updates = [
            {
                "_trial": trial_id,
                "_doc": "["
                + ",".join(
                    f'{{"duties":{_dumps(duties)},"as_of":"{day}","verdict":{text}}}'
                    for (text, day), duties in groups.items()
                )
                + "]",
            }
            for trial_id, groups in docs.items()
        ]
        if updates:
            bind.execute(store, updates)
        doomed = [row[0] for row in rows]
        for i in range(0, len(doomed), 1000):
            bind.execute(sa.delete(obligations).where(obligations.c.id.in_(doomed[i : i + 1000])))


# The keys of a stored verdict in order (portal.obligations.encode.KEYS without STORED_OMITS),
# then the extra keys (params_version, fact_problems): a row's text as the recompute writes it.
STORED_KEYS = (
    "id", "ruleset", "ruleset_version", "title", "status", "due", "trigger", "explanation",
    "assumptions", "source", "estimated", "missing", "deferred_until", "met_on",
)  # fmt: skip


def downgrade():
    # The titles and sources of the duties: the one part of the application used here.
    from portal.rules.duties import DUTIES

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    obligations, inputs = _tables()
    verdict = sa.bindparam("_verdict", type_=sa.Text)
    statement = sa.insert(obligations).values(
        verdict=sa.cast(verdict, sa.JSON) if postgres else verdict
    )
    last = 0
    while True:  # BATCH trials at a time, in id order
        rows = bind.execute(
            sa.select(inputs.c.trial_id, _text(inputs.c.not_applicable), inputs.c.computed_at)
            .where(inputs.c.trial_id > last)
            .order_by(inputs.c.trial_id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        values = []
        for trial_id, doc, computed_at in rows:
            if not doc or doc == "null":
                continue
            for group in json.loads(doc):
                rest = group["verdict"]
                for duty in group["duties"]:
                    ruleset, title, source = DUTIES[duty][:3] if duty in DUTIES else ("", duty, "")
                    known = {"id": duty, "ruleset": ruleset, "title": title, "source": source}
                    full = {
                        key: known[key] if key in known else rest[key]
                        for key in STORED_KEYS
                        if key in known or key in rest
                    }
                    full.update((k, v) for k, v in rest.items() if k not in full)
                    values.append(
                        {
                            "trial_id": trial_id,
                            "duty": duty,
                            "ruleset": ruleset,
                            "status": NOT_APPLICABLE,
                            "due": None,
                            "_verdict": _dumps(full),
                            "params_version": rest.get("params_version"),
                            "as_of": date.fromisoformat(group["as_of"]),
                            "computed_at": computed_at,
                        }
                    )
        if values:
            bind.execute(statement, values)
    with op.batch_alter_table("obligation_inputs", schema=None) as batch_op:
        batch_op.drop_column("not_applicable")
