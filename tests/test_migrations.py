"""Migrations: one head, sequential names, upgrade from empty and downgrade to empty."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal import create_app
from tests.conftest import ROOT, make_env, private_postgres_database

VERSIONS = ROOT / "migrations" / "versions"


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def test_there_is_a_single_head():
    assert len(_scripts().get_heads()) == 1


def test_migrations_are_named_in_sequence():
    names = sorted(p.name for p in VERSIONS.glob("*.py"))
    for number, name in enumerate(names, start=1):
        assert re.match(rf"^{number:04d}_[a-z0-9_]+\.py$", name), name
    for script in _scripts().walk_revisions():
        assert re.fullmatch(r"\d{4}", script.revision)


@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test (a throwaway one on PostgreSQL)."""
    pg = os.environ.get("TEST_DATABASE_URL")
    if not pg:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    with private_postgres_database(pg, f"ttp_scratch_{os.getpid()}") as url:
        yield url


def test_upgrade_from_empty_and_downgrade_to_empty(tmp_path: Path, redis_url: str):
    with scratch_database(tmp_path) as url:
        app = create_app(env=make_env(url, redis_url, tmp_path))
        with app.app_context():
            from portal.extensions import db

            upgrade()
            tables = set(sa.inspect(db.engine).get_table_names())
            assert {"users", "organisations", "audit_events", "outbox_emails"} <= tables
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()  # and up again: the downgrade left nothing behind that blocks it
            db.session.remove()
            db.engine.dispose()


def test_verdicts_stored_before_0006_are_rewritten_by_the_next_daily_recompute(
    tmp_path: Path, redis_url: str
):
    """A deployment upgraded from 0005 keeps its verdicts (with their day counts) until the next
    daily recompute, which finds no stored facts, reads the trial's records, stores its facts
    and rewrites the verdicts in the new form."""
    with scratch_database(tmp_path) as url:
        app = create_app(env=make_env(url, redis_url, tmp_path))
        with app.app_context():
            from portal.extensions import db

            upgrade(revision="0005")
            imported = (
                '{"study_type": {"value": "interventional", "registry": "ClinicalTrials.gov", '
                '"record": "NCT01000001", "imported_at": "2026-11-01T09:00:00+00:00"}, '
                '"countries": {"value": ["United Kingdom"], "registry": "ClinicalTrials.gov", '
                '"record": "NCT01000001", "imported_at": "2026-11-01T09:00:00+00:00"}}'
            )
            with db.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO trials (id, title, uk_site, imported_facts, sponsor_entered,"
                        " created_at, updated_at) VALUES (1, 'A trial', true, :facts, false,"
                        " :now, :now)"
                    ),
                    {"facts": imported, "now": "2026-11-01 09:00:00+00:00"},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO obligations (trial_id, duty, ruleset, status, due,"
                        " days_overdue, verdict, params_version, as_of, computed_at) VALUES"
                        " (1, 'UK-REG', 'uk-2026', 'overdue', '2026-08-02', 30, :verdict, 0,"
                        " '2026-09-01', '2026-09-01 02:15:00+00:00')"
                    ),
                    {
                        "verdict": '{"id": "UK-REG", "status": "overdue", "days_overdue": 30, '
                        '"days_remaining": null, "explanation": "Not done as of 1 September '
                        '2026: 30 days overdue."}'
                    },
                )
            upgrade()
            columns = {c["name"] for c in sa.inspect(db.engine).get_columns("obligations")}
            assert "days_overdue" not in columns

            from portal.domain.obligations.stored import trial_verdicts
            from portal.models import ObligationInputs
            from portal.services.obligations import FACTS_FORMAT
            from workers.obligations import recompute_everything

            result = recompute_everything("2026-11-21")
            assert (result["trials"], result["updated"], result["inserted"]) == (1, 1, 9)
            rows = {o.duty: o for o in trial_verdicts(1)}
            assert len(rows) == 10
            reg = rows["UK-REG"]
            assert "days_overdue" not in reg.verdict and "as of" not in reg.verdict["explanation"]
            assert db.session.get(ObligationInputs, 1).facts["format"] == FACTS_FORMAT
            again = recompute_everything("2026-11-22")  # from the stored facts now
            assert (again["inserted"], again["deleted"]) == (0, 0)
            db.session.remove()
            db.engine.dispose()


def test_0007_moves_not_applicable_verdicts_into_one_document_per_trial_and_back(
    tmp_path: Path, redis_url: str
):
    """Upgrading to 0007 moves the not-applicable rows of each trial into its obligation_inputs
    row; pages read the same verdicts; the next recompute changes none of them; the downgrade
    puts the rows back as they were."""
    with scratch_database(tmp_path) as url:
        app = create_app(env=make_env(url, redis_url, tmp_path))
        with app.app_context():
            from portal.domain.obligations.encode import KEYS, STORED_OMITS
            from portal.domain.obligations.stored import verdicts_for
            from portal.extensions import db
            from portal.models import Obligation, ObligationInputs, Trial
            from portal.services.obligations import recompute_for_trials
            from tests.obligations.helpers import d, make_trial
            from workers.obligations import recompute_everything

            upgrade()
            uk = {"study_type": "interventional", "countries": ["United Kingdom"], "phase": "3"}
            us = {"study_type": "interventional", "countries": ["United States"], "phase": "2"}
            ids = [
                make_trial(uk, [], {"end_of_trial_on": "2025-01-10"}, registry_id="NCT00000001").id,
                make_trial(us, [], {}, registry_id="NCT00000002").id,
                make_trial({"study_type": "observational"}, [], {}, registry_id="NCT00000003").id,
            ]
            recompute_for_trials(ids, reason="import", as_of=d("2026-06-01"))
            db.session.commit()

            def verdicts() -> dict:
                db.session.expire_all()
                return {
                    (o.trial_id, o.duty): (o.ruleset, o.status, o.due, o.verdict, o.as_of,
                                           o.params_version, o.inputs)
                    for obs in verdicts_for(ids).values()
                    for o in obs
                }  # fmt: skip

            def na_rows() -> int:
                return db.session.execute(
                    sa.select(sa.func.count())
                    .select_from(Obligation)
                    .where(Obligation.status == "not_applicable")
                ).scalar_one()

            before = verdicts()
            assert len(before) == 3 * 10
            statuses = [v[1] for v in before.values()]
            assert statuses.count("not_applicable") >= 15 and na_rows() == 0
            db.session.remove()

            downgrade(revision="0006")
            with db.engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT trial_id, duty, verdict, as_of FROM obligations"
                        " WHERE status = 'not_applicable' ORDER BY trial_id, duty"
                    )
                ).all()
            assert len(rows) == statuses.count("not_applicable")
            stored_keys = [k for k in KEYS if k not in STORED_OMITS] + ["params_version"]
            for trial_id, duty, verdict, _ in rows:
                verdict = verdict if isinstance(verdict, dict) else json.loads(verdict)
                assert verdict == before[(trial_id, duty)][3]
                assert list(verdict) == stored_keys  # the text the recompute writes, too

            upgrade()
            assert verdicts() == before and na_rows() == 0
            assert all(
                row.not_applicable
                for row in db.session.execute(sa.select(ObligationInputs)).scalars()
            )
            again = recompute_everything("2026-06-01")
            assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)
            assert again["status_changes"] == 0 and verdicts() == before
            assert db.session.execute(sa.select(sa.func.count()).select_from(Trial)).scalar() == 3
            db.session.remove()
            db.engine.dispose()
