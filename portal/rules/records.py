"""Parts of the facts (registry entries, deferrals, waivers, EU events) and their vocabulary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "DEFERRABLE_DUTIES",
    "EUDRACT_FORM",
    "EU_CT_FORM",
    "EU_END_EVENTS",
    "EU_START_EVENTS",
    "PHASES",
    "STUDY_TYPES",
    "WAIVABLE_DUTIES",
    "Deferral",
    "EuEvent",
    "FactsError",
    "Registration",
    "Waiver",
]

STUDY_TYPES = ("interventional", "observational")
PHASES = ("1", "1/2", "2", "2/3", "3", "4", "n/a")
# RULES.md uk-2026: "A sponsor may ask for a deferral of UK-REG, UK-RES or UK-PART"; waivers are
# the same three duties (the offences are failing to register or to publish results).
DEFERRABLE_DUTIES = ("UK-REG", "UK-RES", "UK-PART")
WAIVABLE_DUTIES = DEFERRABLE_DUTIES
# RULES.md "Which EU law applies": an EU CT number (CTIS) is YYYY-5NNNNN-NN-NN, a EudraCT number
# YYYY-NNNNNN-NN.
EU_CT_FORM = re.compile(r"\d{4}-5\d{5}-\d{2}-\d{2}")
EUDRACT_FORM = re.compile(r"\d{4}-\d{6}-\d{2}")
# eu_events names (RULES.md eu-ctr, Regulation 536/2014 Art. 36-38). EU-START: start of the trial,
# first visit of the first participant, end of recruitment. EU-END: end in one member state, in
# all member states, worldwide (incl. third countries), and early termination.
EU_START_EVENTS = ("trial_start", "first_visit", "recruitment_end")
EU_END_EVENTS = ("end_member_state", "end_all_member_states", "end_worldwide", "early_termination")


class FactsError(ValueError):
    """Facts failed validation; str(error) is one line naming the key and the problem."""


@dataclass(frozen=True, slots=True)
class Registration:
    """One registry entry of the trial."""

    registry: str
    id: str | None = None
    registered_on: date | None = None
    results_posted_on: date | None = None
    estimated: frozenset[str] = frozenset()  # names of the month-only dates above


@dataclass(frozen=True, slots=True)
class Deferral:
    """A deferral granted for one UK duty, requested on a date, running until a date."""

    duty: str
    requested_on: date
    until: date | None = None  # None: deferral_months after the end of trial
    reference: str | None = None
    estimated: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Waiver:
    """A waiver granted for one UK duty; `ground` is optional free text."""

    duty: str
    reference: str | None = None
    ground: str | None = None


@dataclass(frozen=True, slots=True)
class EuEvent:
    """An EU CTR notifiable event (see EU_START_EVENTS / EU_END_EVENTS) and when it was notified."""

    event: str
    on: date
    notified_on: date | None = None
    member_state: str | None = None
    estimated: frozenset[str] = frozenset()
