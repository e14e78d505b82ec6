"""The portfolio report shows the facts to check (issue 16; RULES.md "Facts that contradict each
other": every check runs on reports too): the summary counts the trials that have any, a section
lists each finding with its facts, values and sources, and the CSV carries them."""

from __future__ import annotations

import csv
import io

from portal.extensions import db
from portal.services import sponsor_facts
from portal.services.obligations import recompute_for_trials
from portal.timeutil import today
from tests.certificates.helpers import pdf_text
from tests.factories import PASSWORD, OrganisationFactory, member, trial


def test_the_report_counts_and_lists_the_facts_to_check(browser, work):
    org = OrganisationFactory(name="Northgate Trials")
    sponsor = member("sponsor", org)
    # Worked example 16: the registry's end of trial (October 2014) before the sponsor's UK
    # application (May 2026): a conflict.
    old = trial(title="Old record, new dates", owner=org, end_of_trial_on="2014-10",
                countries=["United Kingdom"], registry_id="NCT20000001")  # fmt: skip
    sponsor_facts.set_facts(
        sponsor, old, {"application_submitted_on": "2026-05-10", "approved_on": "2026-06-01"},
        as_of=today(),
    )  # fmt: skip
    # A participant before approval: a warning only.
    early = trial(title="Early recruit trial", owner=org, registry_id="NCT20000002",
                  approved_on="2026-06-01", first_participant_on="2026-05-20")  # fmt: skip
    quiet = trial(title="Quiet trial", owner=org, registry_id="NCT20000003",
                  approved_on="2026-06-01")  # fmt: skip
    recompute_for_trials([early.id, quiet.id], reason="import")
    db.session.commit()

    officer = member("compliance_officer", org)
    browser.login(officer.email, PASSWORD)
    response = browser.submit("/reports", {"organisation": str(org.id)})
    job_id = response.location.rsplit("/", 1)[-1]
    work()

    text = pdf_text(browser.get(f"/reports/{job_id}/report.pdf").get_data())
    assert "2 trials with facts to check" in text
    section = text.index("Facts to check (2 trials), conflicts first")
    trials = text.index("Trials (3)")
    assert section < trials
    checks = text[section:trials]
    # The conflict first, with each fact, its value and its source.
    assert checks.index("Old record, new dates") < checks.index("Early recruit trial")
    assert "Conflict:" in checks and "Warning:" in checks
    assert "End of trial: October 2014 (read as 31 October 2014)" in checks
    assert "UK application submitted: 10 May 2026" in checks
    assert f"entered by {sponsor.email}" in checks and "ClinicalTrials.gov" in checks
    assert "Affects UK-RES, UK-PART, UK-END" in checks
    assert "First UK participant recruited: 20 May 2026" in checks
    assert "Quiet trial" not in checks
    assert "UK clinical trials regulations 2026" in text and "uk-2026" not in text  # by name
    assert "facts to check (1 conflict)" in text[trials:]
    assert "facts to check (1 warning)" in text[trials:]
    for internal in ("_on", "2026-05-10", "application_submitted"):
        assert internal not in checks, internal

    rows = list(
        csv.DictReader(
            io.StringIO(browser.get(f"/reports/{job_id}/report.csv").get_data().decode("utf-8-sig"))
        )
    )
    by_title = {}
    for row in rows:
        by_title.setdefault(row["title"], set()).add(row["facts_to_check"])
    [old_checks] = by_title["Old record, new dates"]  # the same text on each of its rows
    assert old_checks.startswith("Conflict: ")
    assert "End of trial: October 2014 (read as 31 October 2014)" in old_checks
    [early_checks] = by_title["Early recruit trial"]
    assert early_checks.startswith("Warning: ") and "20 May 2026" in early_checks
    assert by_title["Quiet trial"] == {""}
