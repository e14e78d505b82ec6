"""Properties that hold for any trial: checked on generated facts with hypothesis."""

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.rules import STATUSES, Facts, evaluate

SETTINGS = settings(max_examples=200, deadline=None)

# Worse is higher: adding a fact that meets a duty must never move its status up this order.
RANK = {
    "not_applicable": 0,
    "waived": 0,
    "met": 0,
    "deferred": 1,
    "upcoming": 2,
    "due_soon": 3,
    "met_late": 4,
    "overdue": 5,
    "data_needed": 6,
}
assert set(RANK) == set(STATUSES)

REGISTRIES = ["ISRCTN", "ClinicalTrials.gov", "CTIS", "EUCTR", "DRKS"]
COUNTRIES = ["United Kingdom", "Germany", "France", "United States", "Australia", "Norway"]


@st.composite
def date_text(draw, around: date) -> str:
    """A date as text, one in five month-only."""
    d = around + timedelta(days=draw(st.integers(-200, 1500)))
    return f"{d.year:04d}-{d.month:02d}" if draw(st.integers(0, 4)) == 0 else d.isoformat()


def maybe(draw, strategy, p_none: int = 3):
    """Draw from `strategy`, or None one time in `p_none`."""
    return None if draw(st.integers(0, p_none - 1)) == 0 else draw(strategy)


def rarely(draw, strategy, one_in: int):
    """Draw from `strategy` one time in `one_in`, else None."""
    return draw(strategy) if draw(st.integers(0, one_in - 1)) == 0 else None


@st.composite
def trial(draw) -> tuple[dict, date]:
    """(facts, as_of): a fact dict as from_dict takes it, any fact possibly missing, and a date
    to evaluate it on, both around the same time so that every status turns up."""
    base = draw(st.dates(min_value=date(2016, 1, 1), max_value=date(2029, 12, 31)))
    near = date_text(base)
    as_of = base + timedelta(days=draw(st.integers(-100, 3000)))
    d = {
        "study_type": maybe(draw, st.sampled_from(["interventional"] * 5 + ["observational"])),
        "application_submitted_on": maybe(draw, near),
        "approved_on": maybe(draw, near),
        "first_participant_on": maybe(draw, near),
        "end_of_trial_on": maybe(draw, near),
        "early_termination": maybe(draw, st.booleans()),
        "primary_completion_on": maybe(draw, near),
        "completion_on": maybe(draw, near),
        "start_on": maybe(draw, near),
        "phase": maybe(draw, st.sampled_from(["1", "1/2", "2", "2/3", "3", "4", "n/a"])),
        "healthy_volunteers": maybe(draw, st.booleans()),
        "paediatric": maybe(draw, st.booleans()),
        "countries": maybe(draw, st.lists(st.sampled_from(COUNTRIES), max_size=3, unique=True)),
        "fda_regulated_drug": maybe(draw, st.booleans()),
        "fda_regulated_device": maybe(draw, st.booleans()),
        "us_site": maybe(draw, st.booleans()),
        "ind_or_ide": maybe(draw, st.booleans()),
        "participant_summary_offered_on": maybe(draw, near, 2),
        "end_of_trial_notified_on": maybe(draw, near, 2),
        "delay_certification_on": maybe(draw, near, 2),
        "good_cause_extension_until": maybe(draw, near, 2),
        "results_submitted_on": maybe(draw, near, 2),
    }
    registrations = []
    for registry in draw(st.lists(st.sampled_from(REGISTRIES), max_size=3, unique=True)):
        registrations.append(
            {
                "registry": registry,
                "registered_on": maybe(draw, near, 5),
                "results_posted_on": maybe(draw, near, 2),
            }
        )
    d["registrations"] = maybe(draw, st.just(registrations), 5)
    deferrals = []
    kinds = st.sampled_from(["UK-REG", "UK-RES", "UK-PART"])
    for duty in rarely(draw, st.lists(kinds, min_size=1, max_size=2), 4) or []:
        deferrals.append({"duty": duty, "requested_on": draw(near), "until": maybe(draw, near, 2)})
    d["deferrals"] = deferrals or None
    d["waivers"] = rarely(
        draw, st.just([{"duty": draw(st.sampled_from(["UK-REG", "UK-RES"])), "reference": "W"}]), 20
    )
    events = []
    for event in draw(
        st.lists(
            st.sampled_from(["trial_start", "first_visit", "end_all_member_states"]), max_size=2
        )
    ):
        events.append({"event": event, "on": draw(near), "notified_on": maybe(draw, near, 2)})
    d["eu_events"] = events or None
    return {k: v for k, v in d.items() if v is not None}, as_of


def by_id(facts: dict, as_of: date) -> dict:
    return {o.id: o for o in evaluate(Facts.from_dict(facts), as_of)}


@SETTINGS
@given(trial())
def test_every_verdict_is_well_formed_and_never_due_before_its_trigger(case):
    facts, as_of = case
    for o in evaluate(Facts.from_dict(facts), as_of):
        assert o.status in STATUSES
        assert o.explanation
        assert o.days_overdue >= 0
        if o.due is not None and o.trigger is not None:
            assert o.due >= o.trigger, (o.id, o.explanation)
        if o.status == "overdue":
            assert o.days_overdue == (as_of - o.due).days > 0
        if o.status in ("upcoming", "due_soon", "deferred") and o.due is not None:
            assert o.days_remaining == (o.due - as_of).days >= 0
        if o.status == "data_needed":
            assert o.missing
        if o.estimated:
            assert "estimated from a month-only date" in o.assumptions


def _meet(duty: str, facts: dict, when: str) -> dict:
    """`facts` plus a fact that meets `duty` on `when` (the sponsor did what was due)."""
    f = {k: (list(v) if isinstance(v, list) else v) for k, v in facts.items()}
    regs = [dict(r) for r in f.get("registrations", [])]
    if duty == "UK-REG":
        regs.append({"registry": "ISRCTN", "registered_on": when})
    elif duty == "UK-RES":
        regs = [{**r, "results_posted_on": r.get("results_posted_on") or when} for r in regs]
        regs = regs or [{"registry": "ISRCTN", "registered_on": when, "results_posted_on": when}]
    elif duty == "UK-PART":
        f.setdefault("participant_summary_offered_on", when)
    elif duty == "UK-END":
        f.setdefault("end_of_trial_notified_on", when)
    elif duty == "UK-LAPSE":
        f.setdefault("first_participant_on", when)
    elif duty in ("EU-START", "EU-END"):
        f["eu_events"] = [
            {**e, "notified_on": e.get("notified_on") or when} for e in f.get("eu_events", [])
        ]
    elif duty == "EU-RES":
        regs.append({"registry": "CTIS", "results_posted_on": when})
    elif duty == "US-REG":
        regs.append({"registry": "ClinicalTrials.gov", "registered_on": when})
    elif duty == "US-RES":
        f.setdefault("results_submitted_on", when)
    f["registrations"] = regs
    return f


@SETTINGS
@given(trial(), st.integers(-1000, 1000), st.data())
def test_adding_a_fact_that_meets_a_duty_never_makes_it_worse(case, shift, data):
    facts, as_of = case
    when = as_of + timedelta(days=shift)
    before = by_id(facts, as_of)
    duty = data.draw(st.sampled_from(sorted(before)))
    if before[duty].status == "not_applicable":
        return  # meeting facts can make a rule set apply (a CTIS entry); nothing to compare
    after = by_id(_meet(duty, facts, when.isoformat()), as_of)[duty]
    assert RANK[after.status] <= RANK[before[duty].status], (
        duty,
        before[duty].status,
        after.status,
        after.explanation,
    )


@SETTINGS
@given(trial(), st.integers(1, 2000))
def test_moving_as_of_forward_never_turns_overdue_into_not_yet_due(case, step):
    facts, as_of = case
    earlier = evaluate(Facts.from_dict(facts), as_of)
    later = evaluate(Facts.from_dict(facts), as_of + timedelta(days=step))
    for a, b in zip(earlier, later, strict=True):
        assert a.id == b.id
        if a.status == "overdue":
            assert b.status not in ("upcoming", "due_soon", "deferred"), (a.id, b.explanation)


@SETTINGS
@given(trial())
def test_same_inputs_give_the_same_verdicts(case):
    facts, as_of = case
    first = [o.to_json() for o in evaluate(Facts.from_dict(facts), as_of)]
    again = [o.to_json() for o in evaluate(Facts.from_dict(dict(reversed(facts.items()))), as_of)]
    assert first == again
    assert [o["id"] for o in first] == [
        "UK-REG",
        "UK-RES",
        "UK-PART",
        "UK-END",
        "UK-LAPSE",
        "EU-START",
        "EU-END",
        "EU-RES",
        "US-REG",
        "US-RES",
    ]


@SETTINGS
@given(trial())
def test_facts_round_trip_through_to_dict(case):
    facts, _ = case
    parsed = Facts.from_dict(facts)
    assert Facts.from_dict(parsed.to_dict()) == parsed
