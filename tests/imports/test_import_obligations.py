"""The importer computes the verdicts of the trials it creates from the records in memory
(``recompute_for_trials(new_trials=...)``), not read back. Those verdicts, and the facts stored
with them, must be exactly what a recompute from the stored records gives."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Obligation, ObligationInputs, ObligationStatusChange, Trial
from portal.services import imports
from portal.services.obligations import recompute_for_trials

ROOT = Path(__file__).resolve().parents[2]


def stored_state() -> tuple[dict, dict]:
    verdicts = {
        (trial_id, duty): (status, due, text)
        for trial_id, duty, status, due, text in db.session.execute(
            sa.select(
                Obligation.trial_id,
                Obligation.duty,
                Obligation.status,
                Obligation.due,
                sa.cast(Obligation.verdict, sa.Text),
            )
        )
    }
    inputs = {
        trial_id: (inputs, facts, digest)
        for trial_id, inputs, facts, digest in db.session.execute(
            sa.select(
                ObligationInputs.trial_id,
                sa.cast(ObligationInputs.inputs, sa.Text),
                sa.cast(ObligationInputs.facts, sa.Text),
                ObligationInputs.digest,
            )
        )
    }
    return verdicts, inputs


def assert_same_as_from_records() -> None:
    verdicts, inputs = stored_state()
    trial_ids = list(db.session.execute(sa.select(Trial.id)).scalars())
    assert trial_ids and len(inputs) == len(trial_ids)
    assert len(verdicts) >= 10 * len(trial_ids)
    stats = recompute_for_trials(trial_ids, reason="check")
    db.session.commit()
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 0, 0)
    assert stats.unchanged == len(verdicts)
    assert stored_state() == (verdicts, inputs)


def test_new_trials_from_every_sample_get_the_verdicts_their_stored_records_give(app, samples):
    # batches of 7: new trials, merges into trials of earlier batches and updates all occur
    run_id, report = imports.import_paths([str(samples)], batch_size=7)
    assert report["created"] > 50 and report["merged"] >= 5
    assert_same_as_from_records()


def test_synthetic_trials_of_every_status_match_too(app, tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from parse_floor import generate_ctgov_v2
    finally:
        sys.path.remove(str(ROOT / "bench"))
    generate_ctgov_v2(tmp_path, 300, seed=3)
    _, report = imports.import_paths([str(tmp_path)])
    assert report["created"] == 300
    statuses = set(db.session.execute(sa.select(Obligation.status).distinct()).scalars())
    assert {"not_applicable", "overdue", "data_needed", "upcoming"} <= statuses
    assert_same_as_from_records()


def test_each_first_verdict_that_applies_is_in_the_status_history(app, samples):
    imports.import_paths([str(samples / "ctgov-v2-json")])
    applicable = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Obligation)
        .where(Obligation.status != "not_applicable")
    )
    history = db.session.execute(
        sa.select(ObligationStatusChange.old_status, ObligationStatusChange.new_status)
    ).all()
    assert applicable > 0
    assert len(history) == applicable
    assert all(old is None and new != "not_applicable" for old, new in history)
