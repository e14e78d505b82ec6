"""Static description of each duty: rule set, short title, citation, and the facts it reads."""

from __future__ import annotations

__all__ = ["DUTIES", "READERS", "RULESET_DUTIES"]

_UK_SRC = "S.I. 2025/538 amending S.I. 2004/1031, in force 28 April 2026"
_EU_SRC = "Regulation (EU) No 536/2014"
_US_SRC = "FDAAA 801 (42 U.S.C. 282(j)) and 42 CFR Part 11"

# id -> (ruleset, title, source citation, fact keys shown as inputs), in RULES.md order.
DUTIES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "UK-REG": (
        "uk-2026",
        "Register the trial in a public registry",
        f"RULES.md uk-2026 UK-REG; {_UK_SRC}; HRA guidance 'Registering a clinical trial'",
        (
            "study_type",
            "application_submitted_on",
            "approved_on",
            "first_participant_on",
            "end_of_trial_on",
            "phase",
            "healthy_volunteers",
            "countries",
            "registrations",
            "deferrals",
            "waivers",
        ),
    ),
    "UK-RES": (
        "uk-2026",
        "Publish a summary of results in every registry",
        f"RULES.md uk-2026 UK-RES; {_UK_SRC}; HRA guidance 'Publishing trial results'",
        (
            "study_type",
            "application_submitted_on",
            "approved_on",
            "end_of_trial_on",
            "paediatric",
            "registry_end_of_trial_on",
            "phase",
            "healthy_volunteers",
            "countries",
            "registrations",
            "deferrals",
            "waivers",
        ),
    ),
    "UK-PART": (
        "uk-2026",
        "Offer participants a lay summary of the results",
        f"RULES.md uk-2026 UK-PART; {_UK_SRC}; HRA guidance 'Offering to share a summary of "
        "results with participants'",
        (
            "study_type",
            "application_submitted_on",
            "approved_on",
            "end_of_trial_on",
            "phase",
            "healthy_volunteers",
            "countries",
            "registry_end_of_trial_on",
            "participant_summary_offered_on",
            "deferrals",
            "waivers",
        ),
    ),
    "UK-END": (
        "uk-2026",
        "Notify MHRA and the ethics committee of the end of trial",
        f"RULES.md uk-2026 UK-END; {_UK_SRC}; gov.uk 'Clinical trials for medicines: ending a "
        "clinical trial'",
        (
            "study_type",
            "approved_on",
            "countries",
            "end_of_trial_on",
            "registry_end_of_trial_on",
            "early_termination",
            "end_of_trial_notified_on",
        ),
    ),
    "UK-LAPSE": (
        "uk-2026",
        "Recruit a UK participant before the approval lapses",
        f"RULES.md uk-2026 UK-LAPSE; {_UK_SRC}; gov.uk 'Clinical trials regulations: "
        "transitional arrangements'",
        (
            "study_type",
            "application_submitted_on",
            "approved_on",
            "countries",
            "first_participant_on",
        ),
    ),
    "EU-START": (
        "eu-ctr",
        "Notify start of trial, first visit and end of recruitment",
        f"RULES.md eu-ctr EU-START; {_EU_SRC}, Article 36",
        (
            "study_type",
            "countries",
            "first_participant_on",
            "eu_events",
            "registrations",
            "eudract_number",
            "eu_ct_number",
            "eu_transition_on",
        ),
    ),
    "EU-END": (
        "eu-ctr",
        "Notify the end of trial",
        f"RULES.md eu-ctr EU-END; {_EU_SRC}, Articles 37 and 38",
        (
            "study_type",
            "countries",
            "end_of_trial_on",
            "early_termination",
            "eu_events",
            "registrations",
            "eudract_number",
            "eu_ct_number",
            "eu_transition_on",
        ),
    ),
    "EU-RES": (
        "eu-ctr",
        "Submit the results summary and lay summary to CTIS",
        f"RULES.md eu-ctr EU-RES; {_EU_SRC}, Article 37(4) and Annexes IV and V; Regulation (EC) "
        "No 1901/2006 (paediatric); CTIS deferrals removed 18 June 2024",
        (
            "study_type",
            "countries",
            "end_of_trial_on",
            "paediatric",
            "phase",
            "eu_events",
            "registrations",
            "eudract_number",
            "eu_ct_number",
            "eu_transition_on",
        ),
    ),
    "US-REG": (
        "us-fdaaa",
        "Register on ClinicalTrials.gov",
        f"RULES.md us-fdaaa US-REG; {_US_SRC}, 42 CFR 11.24",
        (
            "study_type",
            "phase",
            "fda_regulated_drug",
            "fda_regulated_device",
            "device_feasibility",
            "us_site",
            "ind_or_ide",
            "countries",
            "start_on",
            "first_participant_on",
            "registrations",
        ),
    ),
    "US-RES": (
        "us-fdaaa",
        "Submit results to ClinicalTrials.gov",
        f"RULES.md us-fdaaa US-RES; {_US_SRC}, 42 CFR 11.44",
        (
            "study_type",
            "phase",
            "fda_regulated_drug",
            "fda_regulated_device",
            "device_feasibility",
            "us_site",
            "ind_or_ide",
            "countries",
            "start_on",
            "primary_completion_on",
            "completion_on",
            "delay_certification_on",
            "good_cause_extension_until",
            "results_submitted_on",
            "registrations",
        ),
    ),
}
RULESET_DUTIES: dict[str, tuple[str, ...]] = {
    rs: tuple(k for k, v in DUTIES.items() if v[0] == rs)
    for rs in ("uk-2026", "eu-ctr", "us-fdaaa")
}
# fact key -> the duties whose verdicts show it as an input
READERS: dict[str, tuple[str, ...]] = {}
for _duty, (_, _, _, _keys) in DUTIES.items():
    for _key in _keys:
        READERS[_key] = (*READERS.get(_key, ()), _duty)
