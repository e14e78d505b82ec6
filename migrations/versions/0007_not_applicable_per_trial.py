"""Verdicts of not applicable are stored once per trial, not as obligations rows.

``obligation_inputs.not_applicable`` holds a trial's not-applicable verdicts, grouped by verdict
text (``portal.obligations.stored``); the ``obligations`` table keeps the other verdicts. Nine
verdicts in ten of a typical import are not applicable, and as rows they were most of the
database's work in an import.

The upgrade moves the not-applicable rows of every trial that has an ``obligation_inputs`` row
into that row (a trial without one keeps its rows until it is recomputed; pages show both). The
verdicts' digests were made from the rows' texts, so the next daily recompute finds them
changed, compares each trial's verdicts once and stores the new digests: it rewrites no verdict.

The code here is frozen with this revision: it does not import the application's.

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


def downgrade():
    from portal.rules.duties import DUTIES  # the static duty table: titles and sources

    bind = op.get_bind()
    obligations, inputs = _tables()
    rows = bind.execute(
        sa.select(inputs.c.trial_id, _text(inputs.c.not_applicable), inputs.c.computed_at).where(
            inputs.c.not_applicable.is_not(None)
        )
    ).all()
    values = []
    for trial_id, doc, computed_at in rows:
        if not doc or doc == "null":
            continue
        for group in json.loads(doc):
            rest = group["verdict"]
            for duty in group["duties"]:
                ruleset, title, source = DUTIES[duty][:3] if duty in DUTIES else ("", duty, "")
                verdict = {"id": duty, "ruleset": ruleset, "title": title, **rest, "source": source}
                values.append(
                    {
                        "trial_id": trial_id,
                        "duty": duty,
                        "ruleset": ruleset,
                        "status": NOT_APPLICABLE,
                        "due": None,
                        "_verdict": _dumps(verdict),
                        "params_version": rest.get("params_version"),
                        "as_of": date.fromisoformat(group["as_of"]),
                        "computed_at": computed_at,
                    }
                )
    postgres = bind.dialect.name == "postgresql"
    statement = sa.insert(obligations).values(
        verdict=sa.cast(sa.bindparam("_verdict", type_=sa.Text), sa.JSON)
        if postgres
        else sa.bindparam("_verdict", type_=sa.Text)
    )
    for i in range(0, len(values), BATCH):
        bind.execute(statement, values[i : i + BATCH])
    with op.batch_alter_table("obligation_inputs", schema=None) as batch_op:
        batch_op.drop_column("not_applicable")
