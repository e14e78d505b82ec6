"""The fast verdict JSON equals ``Obligation.to_json()`` (plus the extra keys) on varied trials,
and is deterministic, which the recompute's change detection relies on."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from portal.domain.obligations import encode
from portal.domain.obligations.encode import VerdictEncoder, encode_case
from portal.rules import Facts, evaluate

REGISTRIES = ["ISRCTN", "ClinicalTrials.gov", "CTIS", "EUCTR"]
COUNTRIES = [["United Kingdom"], ["United Kingdom", "Germany"], ["United States"], ["France"], []]


def _day(rng: random.Random, start: date, span: int) -> str:
    d = start + timedelta(days=rng.randrange(span))
    return f"{d.year:04d}-{d.month:02d}" if rng.random() < 0.1 else d.isoformat()


def random_facts(rng: random.Random) -> dict:
    base = date(2024, 6, 1)
    facts: dict = {
        "study_type": rng.choice(["interventional", "interventional", "observational"]),
        "phase": rng.choice(["1", "2", "3", "n/a"]),
        "healthy_volunteers": rng.random() < 0.3,
        "paediatric": rng.random() < 0.2,
        "countries": rng.choice(COUNTRIES),
        "fda_regulated_drug": rng.random() < 0.5,
        "us_site": rng.random() < 0.3,
    }
    for key, chance in (
        ("application_submitted_on", 0.9),
        ("approved_on", 0.9),
        ("first_participant_on", 0.7),
        ("end_of_trial_on", 0.7),
        ("primary_completion_on", 0.4),
        ("end_of_trial_notified_on", 0.2),
        ("participant_summary_offered_on", 0.2),
        ("results_submitted_on", 0.2),
    ):
        if rng.random() < chance:
            facts[key] = _day(rng, base, 1500)
    facts["registrations"] = [
        {"registry": r, "id": f"{r[:3]}{rng.randrange(10**6)}",
         "registered_on": _day(rng, base, 900),
         **({"results_posted_on": _day(rng, base, 1800)} if rng.random() < 0.3 else {})}
        for r in rng.sample(REGISTRIES, rng.randrange(0, 3))
    ]  # fmt: skip
    if rng.random() < 0.1:
        facts["deferrals"] = [{"duty": "UK-RES", "requested_on": _day(rng, base, 900)}]
    if rng.random() < 0.05:
        facts["waivers"] = [{"duty": "UK-REG", "reference": "W-1 «national security»"}]
    return facts


def test_fast_path_is_active():
    assert encode._FAST, (
        "the rules' to_json keys changed: update portal.domain.obligations.encode.KEYS"
    )


def test_fast_json_equals_to_json_on_varied_trials():
    rng = random.Random(20261120)
    for _ in range(1500):
        data = random_facts(rng)
        sources = {
            k: rng.choice(["ISRCTN 1, imported 2026-11-01", 'entered by "Zoë"\n']) for k in data
        }
        as_of = date(2025, 1, 1) + timedelta(days=rng.randrange(1500))
        facts = Facts.from_dict(data, sources)
        verdicts = evaluate(facts, as_of)
        with_facts = VerdictEncoder({"params_version": 7}, facts)  # entries written up front
        alone = VerdictEncoder({"params_version": 7})  # entries found one by one
        for o in verdicts:
            text = with_facts.encode(o)
            assert json.loads(text) == {**o.to_json(), "params_version": 7}
            assert text == alone.encode(o)  # deterministic, whichever path wrote it
        case = json.loads(encode_case(as_of, verdicts))
        assert case == {"as_of": as_of.isoformat(), "obligations": [o.to_json() for o in verdicts]}
