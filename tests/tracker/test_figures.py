"""The tracker's figures, worked out from registry records only (issue 21), checked by hand
against RULES.md uk-2026: UK-RES is due 12 months after the end of the trial; an old rules
trial (applied for before 28 April 2026) ending on or after that date has UK-RES, and its
UK-REG is already met when it is on ClinicalTrials.gov or ISRCTN."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from portal.extensions import db
from portal.models import TrackerChange, TrackerSponsor, TrackerTrial, Trial
from portal.services.tracker import recompute
from tests.tracker.helpers import post_results, uk_trial

AS_OF = date(2027, 8, 1)


def _acme_and_others():
    overdue = uk_trial("Acme Pharma Ltd", end="2026-06-30")  # due 30 June 2027, no results
    on_time = uk_trial("Acme Pharma Ltd", end="2026-05-31", results_on=date(2027, 3, 1))
    late = uk_trial("ACME Pharma Ltd.", end="2026-05-15", results_on=date(2027, 6, 1))
    not_due = uk_trial("Other Sponsor", end="2027-03-31")  # due 31 March 2028
    not_uk = uk_trial("Acme Pharma Ltd", end="2026-06-30", countries=["France"])
    old = uk_trial("Acme Pharma Ltd", end="2025-12-31")  # ended before 28 April 2026
    return overdue, on_time, late, not_due, not_uk, old


def test_sponsor_figures_by_hand(app):
    overdue, on_time, late, not_due, not_uk, old = _acme_and_others()
    run = recompute(AS_OF)
    assert (run.trials, run.sponsors) == (4, 2)

    acme = db.session.execute(
        sa.select(TrackerSponsor).where(TrackerSponsor.slug == "acme-pharma-ltd")
    ).scalar_one()
    # "ACME Pharma Ltd." and "Acme Pharma Ltd" are one sponsor; the name most trials give.
    assert acme.name == "Acme Pharma Ltd"
    assert (acme.trials, acme.due, acme.on_time, acme.late, acme.overdue) == (3, 3, 1, 1, 1)
    assert acme.percent == 67  # 2 of 3 reported
    other = db.session.execute(
        sa.select(TrackerSponsor).where(TrackerSponsor.slug == "other-sponsor")
    ).scalar_one()
    assert (other.trials, other.due, other.percent) == (1, 0, None)

    rows = {t.trial_id: t for t in db.session.execute(sa.select(TrackerTrial)).scalars()}
    assert not_uk.id not in rows and old.id not in rows
    assert rows[overdue.id].state == "overdue"
    res = next(v for v in rows[overdue.id].verdicts if v["duty"] == "UK-RES")
    assert (res["status"], res["due"], res["days_overdue"]) == ("overdue", "2027-06-30", 32)
    reg = next(v for v in rows[overdue.id].verdicts if v["duty"] == "UK-REG")
    assert reg["status"] == "met"  # RULES.md: old rules trial on ClinicalTrials.gov
    # Each verdict names the registry facts it read and where they came from.
    facts = {s["fact"]: s for s in res["sources"]}
    assert facts["end_of_trial_on"]["value"] == "2026-06-30"
    assert "ClinicalTrials.gov" in facts["end_of_trial_on"]["source"]
    assert "start date" in facts["application_submitted_on"]["source"]
    assert rows[on_time.id].state == "on_time"
    assert rows[late.id].state == "late"
    late_res = next(v for v in rows[late.id].verdicts if v["duty"] == "UK-RES")
    assert (late_res["status"], late_res["due"], late_res["met_on"]) == (
        "met_late",
        "2027-05-15",
        "2027-06-01",
    )
    assert rows[not_due.id].state == "not_due"


def test_a_trial_that_started_after_the_new_rules_needs_its_application_date(app):
    row = uk_trial("Acme Pharma Ltd", end="2026-12-31", start_on="2026-06-01")
    recompute(date(2028, 6, 1))
    tracked = db.session.get(TrackerTrial, row.id)
    verdicts = {v["duty"]: v for v in tracked.verdicts}
    # Old or new rules, UK-RES is due 12 months after an end after 28 April 2026; whether
    # registration was on time depends on rules the registry cannot tell.
    assert verdicts["UK-REG"]["status"] == "data_needed"
    assert (verdicts["UK-RES"]["status"], verdicts["UK-RES"]["due"]) == ("overdue", "2027-12-31")
    assert "application_submitted_on" not in {s["fact"] for s in verdicts["UK-RES"]["sources"]}
    assert tracked.state == "overdue"


def test_sponsor_facts_never_change_the_figures(app):
    from portal.services.sponsor_facts import set_facts
    from tests.factories import OrganisationFactory, member

    org = OrganisationFactory()
    user = member("sponsor_admin", org)
    row = uk_trial("Acme Pharma Ltd", end="2026-06-30", owner=org)
    # The sponsor says results were posted on time: a private fact, not a registry record.
    trial = db.session.get(Trial, row.id)
    entry_id = trial.entries[0].registry_id
    set_facts(
        user,
        trial,
        {"results_posted": {entry_id: {"on": "2027-05-01", "evidence_url": "https://x.example"}}},
        as_of=AS_OF,
    )
    recompute(AS_OF)
    assert db.session.get(TrackerTrial, row.id).state == "overdue"


def test_newly_overdue_and_no_longer_overdue(app):
    row = uk_trial("Acme Pharma Ltd", end="2026-06-30")  # UK-RES due 30 June 2027
    recompute(date(2027, 6, 29))
    recompute(date(2027, 6, 30))
    assert db.session.execute(sa.select(TrackerChange)).scalars().all() == []
    recompute(date(2027, 7, 1))
    newly = db.session.execute(sa.select(TrackerChange)).scalars().all()
    assert [(c.as_of, c.kind, c.trial_id, c.duty) for c in newly] == [
        (date(2027, 7, 1), "newly_overdue", row.id, "UK-RES")
    ]
    recompute(date(2027, 7, 1))  # a second run on the same day keeps the day's list
    assert db.session.execute(sa.select(sa.func.count(TrackerChange.id))).scalar() == 1
    post_results(row.id, date(2027, 7, 1))
    recompute(date(2027, 7, 2))
    changes = db.session.execute(
        sa.select(TrackerChange).where(TrackerChange.as_of == date(2027, 7, 2))
    ).scalars()
    assert [(c.kind, c.duty, c.status) for c in changes] == [
        ("no_longer_overdue", "UK-RES", "met_late")
    ]


def test_recompute_on_the_repository_samples(app, samples: Path):
    from portal.services.imports import import_paths

    folders = [str(p) for p in sorted(samples.iterdir()) if p.is_dir() and p.name != "LICENSES"]
    import_paths(folders)
    run = recompute(date(2026, 12, 5))
    tracked = db.session.execute(sa.select(TrackerTrial)).scalars().all()
    assert run.trials == len(tracked) > 0
    # Today no UK 2026 duty can be due from registry records: the rules began on 28 April
    # 2026, and an old rules trial's results are due 12 months after an end on or after it.
    assert db.session.execute(sa.select(sa.func.sum(TrackerSponsor.due))).scalar() == 0
    for t in tracked:
        trial = db.session.get(Trial, t.trial_id)
        countries = (trial.imported_facts.get("countries") or {}).get("value") or []
        assert "United Kingdom" in countries, trial.title
    # Every tracked trial's sponsor is a row of the table, and the table adds up.
    sponsors = db.session.execute(sa.select(TrackerSponsor)).scalars().all()
    assert sum(s.trials for s in sponsors) == sum(1 for t in tracked if t.sponsor_id)
    # The University of Oxford's trial on the samples, worked out by hand: UK site, started
    # before 28 April 2026 (an old rules trial) and ended after it: UK-RES due 12 months on.
    ended_later = [
        (t, v)
        for t in tracked
        for v in t.verdicts
        if v["duty"] == "UK-RES" and v["status"] == "upcoming"
    ]
    for t, v in ended_later:
        trial = db.session.get(Trial, t.trial_id)
        end = trial.imported_facts["end_of_trial_on"]["value"]
        assert end >= "2026-04"
        year, rest = int(end[:4]), end[4:]
        assert v["due"].startswith(f"{year + 1}{rest[:3]}"), (end, v["due"])


def test_uk_verdicts_are_the_engines(app, samples: Path):
    """The tracker works out the UK rule set alone: the same verdicts as evaluate() gives."""
    import random
    from datetime import timedelta

    from portal.rules import DEFAULT_PARAMS, evaluate
    from portal.services.imports import import_paths
    from portal.services.tracker.compute import registry_only_facts, uk_verdicts

    folders = [str(p) for p in sorted(samples.iterdir()) if p.is_dir() and p.name != "LICENSES"]
    import_paths(folders)
    cases = []
    for trial in db.session.execute(sa.select(Trial)).scalars():
        entries = [
            {"registry": e.registry_name, "registry_id": e.registry_id,
             "registered_on": e.registered_on, "results_posted_on": e.results_posted_on}
            for e in sorted(trial.entries, key=lambda e: (e.registry_name, e.registry_id))
        ]  # fmt: skip
        cases.append((trial.imported_facts, entries))
    rng = random.Random(7)
    for i in range(300):  # varied dates around the rules' start, and conflicting ones
        start = date(2025, 1, 1) + timedelta(days=rng.randrange(900))
        end = start + timedelta(days=rng.randrange(-100, 900))
        facts = {"study_type": rng.choice(["interventional", "observational"]),
                 "countries": rng.choice([["United Kingdom"], ["France"], ["Wales", "Spain"]]),
                 "start_on": start.isoformat(), "end_of_trial_on": end.isoformat(),
                 "phase": rng.choice(["1", "2", "3"]),
                 "healthy_volunteers": rng.random() < 0.3}  # fmt: skip
        imported = {k: {"value": v, "registry": "ISRCTN", "record": f"ISRCTN{i}"}
                    for k, v in facts.items()}  # fmt: skip
        posted = end + timedelta(days=rng.randrange(500)) if rng.random() < 0.5 else None
        entries = [{"registry": "ISRCTN", "registry_id": f"ISRCTN{i}",
                    "registered_on": start, "results_posted_on": posted}]  # fmt: skip
        cases.append((imported, entries))
    for as_of in (date(2026, 12, 5), date(2028, 6, 1)):
        for imported, entries in cases:
            facts = registry_only_facts(imported, entries)
            mine = uk_verdicts(facts, as_of, DEFAULT_PARAMS)
            engine = [o for o in evaluate(facts, as_of, DEFAULT_PARAMS) if o.ruleset == "uk-2026"]
            if mine:
                assert mine == engine
            else:
                assert {o.status for o in engine} == {"not_applicable"}
