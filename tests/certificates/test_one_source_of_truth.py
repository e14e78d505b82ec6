"""One source of truth for results posting (issue 16): after a sponsor records the results of a
registry entry, UK-RES, the trial page's registry table, the evidence section, the certificate
(read back with pypdf) and the portfolio report all say the same; the report's trial table
counts duties worked out as not applicable."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from portal.extensions import db
from portal.services import reports, results, summaries
from portal.timeutil import today
from tests.certificates.helpers import certificate_rows, pdf_text, request_certificate
from tests.factories import PASSWORD, member, trial
from tests.summaries.helpers import add_entry, obligation, sponsor_with_trial

POSTED = date(2026, 11, 1)


@pytest.fixture
def posted(app, browser):
    org, user, t = sponsor_with_trial()
    entry = t.entries[0]
    summaries.record_results_posted(
        user, t, entry.id, POSTED, f"https://clinicaltrials.gov/study/{entry.registry_id}"
    )
    browser.login(user.email, PASSWORD)
    return org, user, t


def test_the_verdict_and_the_one_reader_agree(posted):
    _org, _user, t = posted
    row = obligation(t.id, "UK-RES")
    assert row.status == "met" and row.verdict["met_on"] == POSTED.isoformat()
    [r] = results.for_trial(t)
    assert r.on == POSTED and r.imported_on is None and r.entered["on"] == POSTED
    assert r.entry.results_posted_on is None  # the registry's own value is kept apart


def test_the_trial_page_shows_the_results_date_everywhere(posted, browser):
    _org, _user, t = posted
    page = browser.get(f"/trials/{t.id}").get_data(as_text=True)
    table = page.split("Registry entries of this trial", 1)[1].split("</table>", 1)[0]
    assert "No results yet" not in table and "1 November 2026" in table
    evidence = page.split("Results in each registry", 1)[1].split("</table>", 1)[0]
    assert "No results yet" not in evidence and "1 November 2026" in evidence
    assert "2026-11-01" not in evidence  # one date format


def test_a_second_registry_without_results_is_listed_as_missing_everywhere(posted, browser):
    _org, _user, t = posted
    add_entry(t, "ISRCTN", "ISRCTN12345678")
    from portal.services.obligations import recompute_for_trials

    recompute_for_trials([t.id], reason="sponsor_fact")
    db.session.commit()
    row = obligation(t.id, "UK-RES")
    assert row.status != "met" and "ISRCTN" in row.verdict["explanation"]
    page = browser.get(f"/trials/{t.id}").get_data(as_text=True)
    table = page.split("Registry entries of this trial", 1)[1].split("</table>", 1)[0]
    assert table.count("No results yet") == 1 and "1 November 2026" in table


def test_the_certificate_states_the_results_the_verdict_used(posted, browser, work):
    _org, _user, t = posted
    request_certificate(browser, t.id)
    cert_id = certificate_rows()[-1].id
    [registry] = certificate_rows()[-1].statement["trial"]["registries"]
    assert registry["results_posted_on"] == POSTED.isoformat()
    work()
    text = pdf_text(browser.get(f"/certificates/{cert_id}/certificate.pdf").get_data())
    assert "results posted 1 November 2026" in text
    assert "results not posted" not in text
    res = text.split("UK-RES", 1)[1][:200]
    assert "MET" in res.upper()


def test_the_report_counts_and_lists_the_same_verdicts(posted):
    org, _user, t = posted
    none_apply = trial(title="Observational cohort", owner=org, study_type="observational")
    from portal.services.obligations import recompute_for_trials

    recompute_for_trials([none_apply.id], reason="import")
    db.session.commit()

    data = reports.gather(org.id, today())
    by_trial = {row.id: row for row in data.trials}
    listed = [(o.trial_id, o.duty, o.status) for o in data.obligations]
    assert (t.id, "UK-RES", "met") in listed
    # Every verdict is counted once, in the trial rows and in the totals.
    assert sum(data.totals.values()) == len(listed)
    assert sum(sum(r.counts.values()) for r in data.trials) == len(listed)

    quiet = by_trial[none_apply.id]
    assert quiet.counts["not_applicable"] == 10 and sum(quiet.counts.values()) == 10
    assert quiet.summary == "10 not applicable"
    assert "no duties worked out yet" not in quiet.summary

    rows = list(csv.reader(io.StringIO(reports.to_csv(data).decode("utf-8-sig"))))
    assert any("UK-RES" in r and "met" in " ".join(r).lower() for r in rows)


def test_a_trial_with_no_verdicts_still_says_so(app):
    org, _user, _t = sponsor_with_trial()
    member("compliance_officer", org)
    bare = trial(title="Not worked out", owner=org)
    data = reports.gather(org.id, today())
    row = next(r for r in data.trials if r.id == bare.id)
    assert row.summary == "no duties worked out yet"
