"""The daily recompute evaluates every trial again from the facts stored with its verdicts
(ObligationInputs.facts) and writes only what changed; it must give exactly what a recompute from
the trial's records gives, and fall back to the records when the stored facts cannot be used."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.domain.obligations.encode import VerdictEncoder
from portal.domain.obligations.stored import verdicts_for
from portal.extensions import db
from portal.models import Obligation, ObligationInputs, Trial
from portal.rules import Facts, evaluate
from portal.services.obligations import (
    FACTS_FORMAT,
    facts_document,
    recompute_for_trials,
    verdicts_digest,
)
from tests.obligations.helpers import d, make_trial, set_sponsor_fact
from tests.obligations.test_encode import random_facts
from workers.obligations import recompute_everything

IMPORTED = {"study_type": "interventional", "countries": ["United Kingdom"], "phase": "3"}


def _rows() -> dict[tuple[int, str], tuple]:
    """Every stored verdict, not applicable ones included: (trial, duty) -> (status, due,
    verdict, as_of)."""
    db.session.expire_all()
    ids = db.session.execute(sa.select(Trial.id)).scalars().all()
    return {
        (o.trial_id, o.duty): (o.status, o.due, o.verdict, o.as_of)
        for obs in verdicts_for(ids).values()
        for o in obs
    }


def _varied_trials(n: int) -> list[int]:
    """Trials with varied facts (registrations as registry entries, the rest as sponsor
    facts), one with a stored fact the rules refuse, recomputed as an import leaves them."""
    rng = random.Random(20261121)
    ids = []
    for i in range(n):
        facts = random_facts(rng)
        entries = [
            {
                "registry": r["registry"],
                "registry_id": f"{r['id']}-{i}",
                "registered_on": d(r["registered_on"]) if len(r["registered_on"]) == 10 else None,
                "results_posted_on": (
                    d(r["results_posted_on"])
                    if len(r.get("results_posted_on") or "") == 10
                    else None
                ),
            }
            for r in facts.pop("registrations")
        ]
        imported = {k: facts.pop(k) for k in ("study_type", "phase", "countries")}
        ids.append(make_trial(imported, entries, facts, registry_id=f"NCT{i:08d}").id)
    ids.append(make_trial({**IMPORTED, "phase": "phase three"}, [], {"approved_on": "nope"}).id)
    recompute_for_trials(ids, reason="import", as_of=d("2026-06-01"))
    db.session.commit()
    return ids


def test_the_stored_facts_give_exactly_what_the_records_give(app):
    ids = _varied_trials(40)
    for as_of in ("2026-11-21", "2027-03-02", "2028-01-15"):
        stored = recompute_everything(as_of, chunk=16)
        assert stored["trials"] == len(ids)
        after_stored = _rows()
        again = recompute_everything(as_of, chunk=16, from_records=True)
        # the records, read again, find nothing to change: the stored facts are the same facts
        assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)
        assert _rows() == after_stored
    assert stored["fact_problems"] == 1


def test_the_next_day_rewrites_only_the_verdicts_whose_status_moved(app):
    ids = _varied_trials(40)
    recompute_everything("2026-11-21")
    before = {
        key: o.computed_at
        for o in db.session.execute(sa.select(Obligation)).scalars()
        for key in [(o.trial_id, o.duty)]
    }
    result = recompute_everything("2026-11-22")
    assert result["trials"] == len(ids)
    # every rewritten verdict changed status (day counts are not stored)
    assert result["updated"] == result["status_changes"]
    db.session.expire_all()
    rewritten = [
        o for o in db.session.execute(sa.select(Obligation)).scalars()
        if o.computed_at != before[(o.trial_id, o.duty)]
    ]  # fmt: skip
    assert len(rewritten) == result["updated"]
    assert all(o.as_of == d("2026-11-22") for o in rewritten)


def test_trials_without_usable_stored_facts_are_recomputed_from_their_records(app):
    ids = _varied_trials(6)
    expected = _rows()
    # as left before revision 0006 (no stored facts), in an older format, and not readable
    db.session.execute(
        sa.update(ObligationInputs).where(ObligationInputs.trial_id == ids[0]).values(facts=None)
    )
    db.session.execute(
        sa.update(ObligationInputs)
        .where(ObligationInputs.trial_id == ids[1])
        .values(facts={"format": "0:older", "facts": {}})
    )
    db.session.execute(
        sa.update(ObligationInputs)
        .where(ObligationInputs.trial_id == ids[2])
        .values(facts={"format": FACTS_FORMAT, "facts": {"phase": "phase nine"}, "sources": {}})
    )
    db.session.commit()
    result = recompute_everything("2026-06-01")
    assert result["trials"] == len(ids)
    assert _rows() == expected  # the records gave the same verdicts
    db.session.expire_all()
    for trial_id in ids[:3]:  # and their facts are stored again
        assert db.session.get(ObligationInputs, trial_id).facts["format"] == FACTS_FORMAT


def test_verdicts_changed_behind_the_recompute_are_put_right(app):
    """A stored verdict that no longer matches its digest (edited by hand, a lost write) is
    compared and rewritten; a deleted one is inserted again."""
    _varied_trials(6)
    expected = _rows()
    rows = db.session.execute(sa.select(Obligation).order_by(Obligation.id)).scalars().all()
    row, gone = rows[0], next(o for o in rows if o.trial_id != rows[0].trial_id)
    row.status, row.verdict = "met", {"status": "met"}
    db.session.execute(
        sa.update(ObligationInputs)
        .where(ObligationInputs.trial_id == row.trial_id)
        .values(digest=None)
    )
    db.session.delete(gone)
    db.session.execute(
        sa.update(ObligationInputs)
        .where(ObligationInputs.trial_id == gone.trial_id)
        .values(digest="x")
    )
    db.session.commit()
    result = recompute_everything("2026-06-01")
    assert (result["updated"], result["inserted"]) == (1, 1)
    after = _rows()
    assert after == expected


def test_the_stored_document_gives_back_the_same_facts():
    rng = random.Random(7)
    for _ in range(300):
        data = random_facts(rng)
        sources = {k: f"ISRCTN {k}, imported 2026-11-01" for k in data}
        facts = Facts.from_dict(data, sources)
        doc = facts_document(facts, ["phase: not valid"])
        again = Facts.from_dict(doc["facts"], doc["sources"])
        assert again == facts and again.inputs == facts.inputs
        assert doc["problems"] == ["phase: not valid"]


def test_a_stored_verdict_stays_the_same_from_day_to_day_until_its_status_moves():
    """What is stored names no day count and no as-of date, so consecutive days give the same
    text unless the verdict's status or dates changed, or something the facts date happened."""
    rng = random.Random(11)
    encoder = VerdictEncoder({"params_version": 1}, inputs=False)
    same_days = 0
    for _ in range(400):
        data = random_facts(rng)
        facts = Facts.from_dict(data)
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(1500))
        if (day + timedelta(days=1)).isoformat() in json.dumps(data):
            continue  # a dated event (a deferral request, say) happens on the second day
        today_ = {o.id: o for o in evaluate(facts, day)}
        tomorrow = {o.id: o for o in evaluate(facts, day + timedelta(days=1))}
        for duty, o in today_.items():
            n = tomorrow[duty]
            moved = (o.status, o.due, o.met_on, o.deferred_until) != (
                n.status,
                n.due,
                n.met_on,
                n.deferred_until,
            )
            if not moved:
                same_days += 1
                assert encoder.encode(o) == encoder.encode(n), (duty, o.explanation)
    assert same_days > 3000
    assert verdicts_digest(["a", "b"]) != verdicts_digest(["ab"])


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs two PostgreSQL sessions")
def test_an_import_committing_during_the_daily_job_is_not_undone(app):
    """The daily job reads a trial's stored facts without a lock. If an import changes them
    meanwhile, the job, which must then lock the trial to write, waits for the import, reads
    the facts again and works from the new ones, not the ones it read first."""
    trial = make_trial(IMPORTED, [], {"application_submitted_on": "2026-05-01",
                                      "approved_on": "2026-06-01",
                                      "end_of_trial_on": "2027-01-31"})  # fmt: skip
    trial_id = trial.id
    recompute_for_trials([trial_id], reason="import", as_of=d("2027-02-01"))
    db.session.commit()
    assert _rows()[(trial_id, "UK-END")][0] == "upcoming"
    importing, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def sponsor_enters_the_notification() -> None:
        with app.app_context():
            try:
                set_sponsor_fact(trial_id, "end_of_trial_notified_on", "2027-03-01", commit=False)
                recompute_for_trials([trial_id], reason="sponsor_fact", as_of=d("2027-05-10"))
                importing.set()  # facts and verdicts written, trial locked, not committed
                release.wait(30)
                db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
                importing.set()
            finally:
                db.session.remove()

    def daily_job() -> None:
        with app.app_context():
            try:
                recompute_everything("2027-05-10")
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)
            finally:
                db.session.remove()

    writer = threading.Thread(target=sponsor_enters_the_notification)
    writer.start()
    assert importing.wait(30)
    job = threading.Thread(target=daily_job)
    job.start()
    # the job read the old facts (UK-END overdue by then) and now waits for the trial's lock
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = db.session.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        ).scalar()
        db.session.rollback()
        if waiting:
            break
        time.sleep(0.05)
    assert waiting, "the daily job never waited for the import's lock"
    release.set()
    writer.join(30)
    job.join(60)
    assert not failures, failures
    rows = _rows()
    assert rows[(trial_id, "UK-END")][0] == "met"  # the notification counts: not undone
    again = recompute_everything("2027-05-10", from_records=True)
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)
