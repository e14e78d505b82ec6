"""Plain-English names of every fact the rules read (users never see the fact keys).

The one place these labels live: the facts form, pages, certificates and the rules' own
explanations import them from here (``portal.domain.trials.facts`` re-exports them).
"""

from __future__ import annotations

import re

__all__ = ["FACT_LABELS", "fact_label", "fact_words", "plain_missing"]

# fact key -> label, for every key in portal.rules.facts.FACT_KEYS (a test checks).
FACT_LABELS: dict[str, str] = {
    "study_type": "Type of study",
    "application_submitted_on": "UK application submitted",
    "approved_on": "UK approval date",
    "first_participant_on": "First UK participant recruited",
    "end_of_trial_on": "End of trial",
    "early_termination": "Ended early",
    "primary_completion_on": "Primary completion date",
    "completion_on": "Study completion date",
    "start_on": "Start of trial",
    "phase": "Phase",
    "healthy_volunteers": "Healthy volunteers",
    "paediatric": "Paediatric trial",
    "countries": "Countries with sites",
    "fda_regulated_drug": "FDA-regulated drug or biologic",
    "fda_regulated_device": "FDA-regulated device",
    "us_site": "Site in the United States",
    "ind_or_ide": "Under a US IND or IDE",
    "device_feasibility": "Device feasibility study",
    "registrations": "Registry entries",
    "participant_summary_offered_on": "Participants offered the results",
    "end_of_trial_notified_on": "End of trial notified to MHRA and ethics",
    "deferrals": "Deferrals",
    "waivers": "Waivers",
    "delay_certification_on": "US delay certification filed",
    "good_cause_extension_until": "US good-cause extension granted until",
    "results_submitted_on": "Results first submitted to ClinicalTrials.gov",
    "eu_events": "EU notifications (start, first visit, end of recruitment, end of trial)",
    "eudract_number": "EudraCT number",
    "eu_ct_number": "EU CT number (CTIS)",
    "eu_transition_on": "Date transitioned to the EU Clinical Trials Regulation",
    "registry_end_of_trial_on": "End of trial in the registry",
}


def fact_label(key: str) -> str:
    """The label of fact `key` (an unknown key is spelt out without underscores)."""
    return FACT_LABELS.get(key) or key.replace("_", " ").capitalize()


def fact_words(key: str) -> str:
    """The label to use inside a sentence: "end of trial", but "UK approval date" and "EudraCT
    number" keep their capitals."""
    label = fact_label(key)
    word = label.split(" ", 1)[0]
    return label if any(c.isupper() for c in word[1:]) else label[0].lower() + label[1:]


_KEY = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def plain_missing(items: list[str]) -> str:
    """A `missing` list as a person reads it: each fact key becomes its label, lower case after
    the first word ("end_of_trial_on or eu_events" -> "end of trial or EU notifications ...")."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) not in FACT_LABELS:
            return match.group(0).replace("_", " ")
        return fact_words(match.group(0))

    return ", ".join(_KEY.sub(one, item) for item in items)
