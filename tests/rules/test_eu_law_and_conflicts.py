"""RULES.md "Which EU law applies" and "Facts that contradict each other": worked examples 11-16
and every check, through evaluate() and through the `flask obligations evaluate` JSON contract,
plus properties on generated facts."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.rules import DEFAULT_PARAMS, Facts, evaluate, facts_to_check
from portal.rules.conflicts import CHECKS, CONFLICT, WARNING
from portal.rules.eulaw import CTR, DIRECTIVE, UNKNOWN, WINDOW, eu_law, law_applied_from
from tests.obligations.test_cli import run
from tests.rules.test_properties import maybe, trial

D = date.fromisoformat

# RULES.md worked examples 11-16: (facts, as_of, {duty: expected fields}).
EXAMPLES = {
    11: (
        {
            "countries": ["Germany", "United Kingdom"],
            "end_of_trial_on": "2005-11",
            "registrations": [{"registry": "ClinicalTrials.gov", "id": "NCT00123456"}],
        },
        "2026-12-04",
        {d: {"status": "not_applicable", "due": None} for d in ("EU-START", "EU-END", "EU-RES")},
    ),
    12: (
        {
            "eudract_number": "2017-001234-56",
            "phase": "3",
            "paediatric": False,
            "countries": ["Germany", "France"],
            "end_of_trial_on": "2019-03-15",
        },
        "2026-12-04",
        {
            "EU-RES": {"status": "overdue", "due": "2020-03-15"},
            "EU-START": {"status": "not_applicable", "due": None},
            "EU-END": {"due": "2019-06-13"},
        },
    ),
    13: (
        {
            "registrations": [
                {"registry": "EUCTR", "id": "2021-004321-10", "results_posted_on": "2023-12-20"}
            ],
            "paediatric": True,
            "phase": "2",
            "countries": ["Italy"],
            "end_of_trial_on": "2023-06-30",
        },
        "2026-12-04",
        {"EU-RES": {"status": "met", "due": "2023-12-30"}},
    ),
    14: (
        {
            "eu_ct_number": "2023-501234-12-00",
            "countries": ["Germany"],
            "first_participant_on": "2023-09-01",
            "eu_events": [
                {
                    "event": "first_visit",
                    "on": "2023-09-01",
                    "notified_on": "2023-09-10",
                    "member_state": "Germany",
                }
            ],
        },
        "2023-12-01",
        {"EU-START": {"status": "met", "due": "2023-09-16"}},
    ),
    15: (
        {
            "countries": ["France"],
            "first_participant_on": "2025-02-01",
            "registrations": [{"registry": "ClinicalTrials.gov", "id": "NCT09876543"}],
        },
        "2026-12-04",
        {d: {"status": "data_needed", "due": None} for d in ("EU-START", "EU-END", "EU-RES")},
    ),
    16: (
        {
            "application_submitted_on": "2026-05-10",
            "approved_on": "2026-06-01",
            "end_of_trial_on": "2014-10",
            "countries": ["United Kingdom"],
        },
        "2026-12-04",
        {d: {"status": "data_needed", "due": None} for d in ("UK-RES", "UK-PART", "UK-END")},
    ),
}


def _got(o, fields):
    data = o.to_json() if hasattr(o, "to_json") else o
    return {k: data[k] for k in fields}


@pytest.mark.parametrize("number", sorted(EXAMPLES))
def test_worked_example_through_evaluate(number):
    facts, as_of, expected = EXAMPLES[number]
    verdicts = {o.id: o for o in evaluate(Facts.from_dict(facts), D(as_of))}
    for duty, fields in expected.items():
        assert _got(verdicts[duty], fields) == fields, (number, duty, verdicts[duty].explanation)


def test_worked_examples_through_the_cli(tmp_path):
    lines = [json.dumps({**facts, "as_of": as_of}) for facts, as_of, _ in EXAMPLES.values()]
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run("-", "--facts", str(path), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    cases = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(cases) == len(EXAMPLES)
    for (number, (_, as_of, expected)), case in zip(EXAMPLES.items(), cases, strict=True):
        assert case["as_of"] == as_of
        assert set(case) == {"as_of", "obligations", "conflicts", "warnings"}
        verdicts = {o["id"]: o for o in case["obligations"]}
        for duty, fields in expected.items():
            assert _got(verdicts[duty], fields) == fields, (number, duty)
    # Example 16's conflict is reported with each fact, its value and its source.
    conflict = cases[-1]["conflicts"][0]
    assert conflict["check"] == "END-BEFORE-APPLICATION"
    assert conflict["duties"] == ["UK-RES", "UK-PART", "UK-END"]
    assert {f["fact"]: f["value"] for f in conflict["facts"]} == {
        "end_of_trial_on": "2014-10 (read as 2014-10-31)",
        "application_submitted_on": "2026-05-10",
    }
    assert all(f["source"] == f"facts file {path}" for f in conflict["facts"])
    assert all(f["label"] and "_" not in f["label"] for f in conflict["facts"])


def test_each_eu_verdict_names_its_legal_basis():
    for number in (12, 13, 14):
        facts, as_of, _ = EXAMPLES[number]
        for o in evaluate(Facts.from_dict(facts), D(as_of)):
            if o.ruleset == "eu-ctr":
                assert "Legal basis: " in o.explanation, (number, o.id)
                basis = "536/2014" if number == 14 else "Directive 2001/20/EC"
                assert basis in o.explanation and (number == 14) == ("536/2014" in o.source)


@pytest.mark.parametrize(
    ("facts", "law"),
    [
        (EXAMPLES[11][0], WINDOW),
        (EXAMPLES[12][0], DIRECTIVE),
        (EXAMPLES[13][0], DIRECTIVE),
        (EXAMPLES[14][0], CTR),
        (EXAMPLES[15][0], UNKNOWN),
        ({**EXAMPLES[12][0], "eu_transition_on": "2024-06-01"}, CTR),
        ({"countries": ["Spain"], "registrations": [{"registry": "CTIS", "id": "x"}]}, CTR),
    ],
)
def test_which_eu_law_applies(facts, law):
    assert eu_law(Facts.from_dict(facts), DEFAULT_PARAMS).law == law


def test_directive_end_is_15_days_after_an_early_termination():
    facts = {**EXAMPLES[12][0], "early_termination": True}
    o = {o.id: o for o in evaluate(Facts.from_dict(facts), D("2026-12-04"))}["EU-END"]
    assert o.due == D("2019-03-30")


def test_directive_adult_phase_1_has_no_results_duty():
    facts = {**EXAMPLES[12][0], "phase": "1"}
    o = {o.id: o for o in evaluate(Facts.from_dict(facts), D("2026-12-04"))}["EU-RES"]
    assert o.status == "not_applicable" and "phase 1" in o.explanation


def test_ctr_events_before_the_transition_belong_to_the_directive():
    facts = {
        "eudract_number": "2019-001234-56",
        "eu_transition_on": "2024-03-01",
        "countries": ["Spain"],
        "first_participant_on": "2019-06-01",
        "end_of_trial_on": "2025-06-30",
    }
    o = {o.id: o for o in evaluate(Facts.from_dict(facts), D("2026-12-04"))}
    assert o["EU-START"].status == "not_applicable"
    assert o["EU-END"].due == D("2025-07-15")  # a CTR event: 15 days
    assert o["EU-RES"].due == D("2026-06-30")


def test_directive_trial_running_after_january_2025_gets_the_transition_warning():
    facts = {"eudract_number": "2020-001234-56", "countries": ["Spain"], "start_on": "2021-01"}
    found = facts_to_check(Facts.from_dict(facts), D("2026-12-04"))
    assert [c.check for c in found] == ["NOT-TRANSITIONED"]
    assert found[0].kind == WARNING and "should have been transitioned" in found[0].message
    ended = facts_to_check(
        Facts.from_dict({**facts, "end_of_trial_on": "2024-12-01"}), D("2026-12-04")
    )
    assert ended == []


# --- "Facts that contradict each other": every check ------------------------------------------

UK = {"countries": ["United Kingdom"]}
CHECK_CASES = {
    "END-BEFORE-START": (
        {**UK, "application_submitted_on": "2026-05-01", "approved_on": "2026-06-01",
         "first_participant_on": "2026-09-01", "end_of_trial_on": "2026-08-01"},
        ("UK-RES", "UK-PART", "UK-END", "EU-END", "EU-RES"),
    ),
    "APPROVAL-BEFORE-APPLICATION": (
        {**UK, "application_submitted_on": "2026-07-01", "approved_on": "2026-06-01"},
        ("UK-REG", "UK-LAPSE"),
    ),
    "END-BEFORE-APPLICATION": (EXAMPLES[16][0], ("UK-RES", "UK-PART", "UK-END")),
    "PARTICIPANT-BEFORE-APPROVAL": (
        {**UK, "application_submitted_on": "2026-05-01", "approved_on": "2026-06-01",
         "first_participant_on": "2026-05-20"},
        (),
    ),
    "RESULTS-BEFORE-END": (
        {**UK, "application_submitted_on": "2026-05-01", "approved_on": "2026-06-01",
         "end_of_trial_on": "2027-01-31",
         "registrations": [{"registry": "ISRCTN", "id": "ISRCTN1", "registered_on": "2026-06-10",
                            "results_posted_on": "2026-12-01"}]},
        (),
    ),
    "END-DATES-DISAGREE": (
        {**UK, "application_submitted_on": "2026-05-01", "approved_on": "2026-06-01",
         "end_of_trial_on": "2027-01-31", "registry_end_of_trial_on": "2027-08-31"},
        (),
    ),
}  # fmt: skip
AS_OF = "2027-12-04"


def test_every_check_has_a_case():
    assert set(CHECK_CASES) | {"NOT-TRANSITIONED"} == set(CHECKS)


@pytest.mark.parametrize("check", sorted(CHECK_CASES))
def test_check_through_evaluate(check):
    facts, duties = CHECK_CASES[check]
    sources = dict.fromkeys(facts, "entered by sponsor@example.org on 2026-11-01 10:00")
    f = Facts.from_dict(facts, sources)
    found = facts_to_check(f, D(AS_OF))
    assert [c.check for c in found] == [check]
    c = found[0]
    assert c.kind == (CONFLICT if duties else WARNING)
    assert c.duties == duties
    for key, value, source in c.facts:  # each fact named with its value and source
        assert key in facts and value and source == sources[key]
        assert value.split(" ")[0] in json.dumps(facts[key])
    verdicts = {o.id: o for o in evaluate(f, D(AS_OF))}
    clean = {o.id: o for o in evaluate(Facts.from_dict(_without(check, facts)), D(AS_OF))}
    for duty, o in verdicts.items():
        if duty in duties and clean[duty].status != "not_applicable":
            assert o.status == "data_needed" and check in o.explanation, (duty, o.explanation)
            assert o.due is None and o.missing
        else:  # a warning, or a duty the check does not touch: no status from the conflict
            assert check not in o.explanation and "Facts conflict" not in o.explanation, duty


def _without(check, facts):
    """The same facts with the contradiction removed."""
    drop = {
        "END-BEFORE-START": "end_of_trial_on",
        "APPROVAL-BEFORE-APPLICATION": "approved_on",
        "END-BEFORE-APPLICATION": "end_of_trial_on",
        "PARTICIPANT-BEFORE-APPROVAL": "first_participant_on",
        "RESULTS-BEFORE-END": "registrations",
        "END-DATES-DISAGREE": "registry_end_of_trial_on",
    }[check]
    return {k: v for k, v in facts.items() if k != drop}


def test_interim_results_do_not_meet_uk_res():
    facts, _ = CHECK_CASES["RESULTS-BEFORE-END"]
    o = {o.id: o for o in evaluate(Facts.from_dict(facts), D("2028-03-01"))}["UK-RES"]
    assert o.status == "overdue" and "interim" in o.explanation and o.missing == ["ISRCTN"]


def test_checks_through_the_cli(tmp_path):
    lines = [json.dumps({**facts, "as_of": AS_OF}) for facts, _ in CHECK_CASES.values()]
    path = tmp_path / "checks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run("-", "--facts", str(path), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    cases = [json.loads(line) for line in result.stdout.splitlines()]
    for (check, (_, duties)), case in zip(CHECK_CASES.items(), cases, strict=True):
        listed = case["conflicts"] if duties else case["warnings"]
        other = case["warnings"] if duties else case["conflicts"]
        assert [c["check"] for c in listed] == [check] and other == []
        assert listed[0]["duties"] == list(duties)
        for item in listed[0]["facts"]:
            assert set(item) == {"fact", "label", "value", "source"}
            assert item["source"] == f"facts file {path}"
        statuses = {o["id"]: o["status"] for o in case["obligations"]}
        # every duty the conflict touches is data_needed, unless its rule set does not apply
        assert all(statuses[d] in ("data_needed", "not_applicable") for d in duties)
        assert not duties or any(statuses[d] == "data_needed" for d in duties)


def test_cli_keeps_its_keys_when_nothing_conflicts(tmp_path):
    result = run("-", "--as-of", "2026-12-04", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    case = json.loads(result.stdout)
    assert list(case) == ["as_of", "obligations", "conflicts", "warnings"]
    assert case["conflicts"] == [] and case["warnings"] == []


def test_cli_text_format_lists_the_facts_to_check(tmp_path):
    path = tmp_path / "ex16.json"
    path.write_text(json.dumps(EXAMPLES[16][0]))
    result = run("-", "--facts", str(path), "--as-of", "2026-12-04", "--format", "text",
                 tmp_path=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Facts to check:" in result.stdout and "END-BEFORE-APPLICATION" in result.stdout


# --- properties ---------------------------------------------------------------------------------

SETTINGS = settings(max_examples=300, deadline=None)
FDAAA = date(2007, 9, 27)


@st.composite
def eu_trial(draw):
    """The generated trials of test_properties, with EU numbers, a transition, a registry end of
    trial, and dates reaching back to the 1990s (before every law)."""
    facts, as_of = draw(trial())
    back = timedelta(days=draw(st.sampled_from([0, 0, 3650, 7300, 9000])))
    for key, value in list(facts.items()):
        if isinstance(value, str) and value[:2] in ("19", "20") and key.endswith(("_on", "until")):
            d = D(value if len(value) == 10 else value + "-01") - back
            facts[key] = d.isoformat()
    extra = {
        "eudract_number": maybe(draw, st.just("2012-001234-56"), 2),
        "eu_ct_number": maybe(draw, st.just("2023-501234-12-00"), 3),
        "eu_transition_on": maybe(draw, st.sampled_from(["2023-05-01", "2025-01-15"]), 4),
        "registry_end_of_trial_on": maybe(draw, st.just("2020-02-29"), 4),
    }
    facts.update({k: v for k, v in extra.items() if v is not None})
    return facts, as_of


def _law_applied(o, f: Facts) -> date:
    """The day the law a verdict comes from applied (RULES.md; the UK end-of-trial notice comes
    from S.I. 2004/1031, every other UK duty from S.I. 2025/538)."""
    p = DEFAULT_PARAMS
    if o.ruleset == "eu-ctr":
        applied = law_applied_from(eu_law(f, p), p)
        assert applied is not None, (o.id, o.status)  # window / unknown: never overdue
        return applied
    if o.ruleset == "us-fdaaa":
        return FDAAA
    return p.uk_2004_in_force if o.id == "UK-END" else p.uk_in_force


@SETTINGS
@given(eu_trial())
def test_no_verdict_is_overdue_longer_than_its_law_has_applied(case):
    facts, as_of = case
    f = Facts.from_dict(facts)
    for o in evaluate(f, as_of):
        if o.status == "overdue":
            assert o.days_overdue <= (as_of - _law_applied(o, f)).days, (o.id, o.explanation)
            assert o.due >= _law_applied(o, f), (o.id, o.explanation)


# Registering before approval meets UK-REG (and US-REG), and a first participant before approval
# is a warning only (PARTICIPANT-BEFORE-APPROVAL): those duties can be met before their trigger.
MET_BEFORE_TRIGGER_ALLOWED = ("UK-REG", "US-REG", "UK-LAPSE")


@SETTINGS
@given(eu_trial())
def test_no_met_is_dated_before_the_duty_trigger(case):
    facts, as_of = case
    for o in evaluate(Facts.from_dict(facts), as_of):
        if o.status in ("met", "met_late") and o.id not in MET_BEFORE_TRIGGER_ALLOWED:
            if o.met_on is not None and o.trigger is not None:
                assert o.met_on >= o.trigger, (o.id, o.explanation)


@SETTINGS
@given(eu_trial())
def test_a_trial_with_a_conflict_is_never_compliant(case):
    from portal.services.certificates import is_compliant

    facts, as_of = case
    f = Facts.from_dict(facts)
    found = facts_to_check(f, as_of)
    verdicts = evaluate(f, as_of)
    if any(c.kind == CONFLICT for c in found):
        assert not is_compliant([o.status for o in verdicts], found)
    for c in found:
        if c.kind == CONFLICT:
            for o in verdicts:
                if o.id in c.duties and o.status not in ("not_applicable", "waived"):
                    assert o.status == "data_needed"
