"""Assemble the rules engine's facts for a trial from its registry entries and sponsor facts.

Precedence (issue "Registry import"): a sponsor-entered fact always wins over an imported one,
and an import never overwrites a sponsor-entered fact (they are stored apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from portal.rules.labels import FACT_LABELS, fact_label

__all__ = [
    "DISPLAY_ONLY",
    "FACT_LABELS",
    "SPONSOR_FACT_KEYS",
    "build_facts",
    "describe_value",
    "fact_label",
    "imported_source",
    "sponsor_source",
]

# Facts a sponsor may enter (RULES.md inputs that no registry carries, or that they correct).
SPONSOR_FACT_KEYS = (
    "application_submitted_on",
    "approved_on",
    "iras_id",
    "first_participant_on",
    "end_of_trial_on",
    "early_termination",
    "end_of_trial_notified_on",
    "participant_summary_offered_on",
    "deferrals",
    "waivers",
    "results_posted",  # {registry_id: {"on": date, "evidence_url": url}} entered with evidence
    "phase",
    "healthy_volunteers",
    "paediatric",
    "study_type",
    # Every other fact a rule reads (RULES.md "Every fact a rule reads can be entered or
    # corrected by the sponsor"): portal.trials.forms.FactsForm and EuEventForm.
    "start_on",
    "countries",
    "eudract_number",
    "eu_ct_number",
    "eu_transition_on",
    "eu_events",
    "primary_completion_on",
    "completion_on",
    "fda_regulated_drug",
    "fda_regulated_device",
    "device_feasibility",
    "us_site",
    "ind_or_ide",
    "delay_certification_on",
    "good_cause_extension_until",
    "results_submitted_on",
)

# Keys kept on the trial for display only; the rules engine does not take them.
DISPLAY_ONLY = ("title", "sponsor_name", "overall_status", "age_groups", "phases", "iras_id")
_DISPLAY_ONLY = frozenset(DISPLAY_ONLY)  # for membership tests


def imported_source(fact: Mapping[str, Any]) -> str:
    """Human provenance of an imported fact (and of the other entries it was combined with)."""
    when = _day(fact.get("imported_at"))
    text = f"{fact.get('registry')} {fact.get('record')}"
    if when:
        text += f", imported {when}"
    also = fact.get("also")
    if also:
        text += "; with " + ", ".join(f"{a.get('registry')} {a.get('record')}" for a in also)
    return text


def _day(value: Any) -> str:
    """A stored date or timestamp as "4 December 2026" (one date format for people)."""
    if value in (None, ""):
        return ""
    try:
        day = value if hasattr(value, "year") else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day.day} {day:%B %Y}"


def sponsor_source(label: str, entered_at: Any) -> str:
    """Who entered a fact and when: "entered by Ada Lovelace on 4 December 2026 at 10:30"."""
    when = _day(entered_at)
    if hasattr(entered_at, "strftime"):
        when += f" at {entered_at:%H:%M}"
    who = (label or "").strip() or "a member of the sponsor's organisation"
    return f"entered by {who} on {when}"


def build_facts(
    imported_facts: Mapping[str, Mapping[str, Any]],
    entries: Iterable[Mapping[str, Any]],
    sponsor_facts: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (facts, sources) for ``portal.rules.Facts.from_dict``.

    A change to what this returns for the same rows must raise
    ``portal.services.obligations.FACTS_BUILD``: the daily recompute works from facts stored by
    earlier calls, and reads the records again only for documents of another format.

    ``entries``: dicts with registry, registry_id, registered_on, results_posted_on (dates/None).
    ``sponsor_facts``: current rows as dicts with key, value, entered_by_label, entered_at.
    """
    facts: dict[str, Any] = {}
    sources: dict[str, str] = {}
    # An import usually sets every fact of a trial from one record: describe each record once.
    described: dict[tuple[Any, Any, Any], str] = {}
    for key, fact in imported_facts.items():
        if key in _DISPLAY_ONLY:
            continue
        value = fact.get("value")
        if value is None:
            continue
        facts[key] = value
        if "also" in fact:  # combined with other entries: described on its own
            text = imported_source(fact)
        else:
            origin = (fact.get("registry"), fact.get("record"), fact.get("imported_at"))
            text = described.get(origin)
            if text is None:
                text = described[origin] = imported_source(fact)
        sources[key] = text

    sponsor = {row["key"]: row for row in sponsor_facts if row.get("value") is not None}
    posted = sponsor.get("results_posted", {}).get("value") or {}

    registrations = []
    reg_sources = []
    for entry in entries:
        claimed = posted.get(entry["registry_id"])
        on = results_on(entry.get("results_posted_on"), claimed)
        if entry.get("results_posted_on") is None and on is not None:
            reg_sources.append(
                f"{entry['registry']} results date "
                + sponsor_source(
                    sponsor["results_posted"]["entered_by_label"],
                    sponsor["results_posted"]["entered_at"],
                )
            )
        registrations.append(
            {
                "registry": entry["registry"],
                "id": entry["registry_id"],
                "registered_on": _iso(entry.get("registered_on")),
                "results_posted_on": _iso(on),
            }
        )
        reg_sources.append(f"{entry['registry']} {entry['registry_id']}")
    if registrations:
        facts["registrations"] = registrations
        sources["registrations"] = "; ".join(reg_sources)

    # RULES.md END-DATES-DISAGREE: the sponsor's end of trial is used and the registry's kept
    # beside it, so that both are shown and compared.
    if "end_of_trial_on" in sponsor and "end_of_trial_on" in facts:
        facts["registry_end_of_trial_on"] = facts["end_of_trial_on"]
        sources["registry_end_of_trial_on"] = sources["end_of_trial_on"]

    entered: dict[tuple[Any, Any], str] = {}  # facts entered together share their description
    for key, row in sponsor.items():
        if key in ("results_posted", "iras_id"):
            continue
        facts[key] = row["value"]
        who = (row["entered_by_label"], row["entered_at"])
        text = entered.get(who)
        if text is None:
            text = entered[who] = sponsor_source(*who)
        sources[key] = text
    return facts, sources


def results_on(imported_on: Any, claimed: Any) -> Any:
    """When results were posted in one registry entry: the registry import's date, else the
    date the sponsor entered (``claimed``: {"on": date, "evidence_url": url}), else None. The
    one rule for the verdicts and every page (``portal.services.results``)."""
    if imported_on is not None:
        return imported_on
    if isinstance(claimed, dict) and claimed.get("on"):
        return claimed["on"]
    return None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def describe_value(value: Any) -> str:
    """A fact as a person reads it: dates spelt out, yes/no, lists joined, records as
    "field value" pairs (pages and certificates show facts this way)."""
    from datetime import date

    if value is None:
        return "Not known"
    if value is True or value is False:
        return "Yes" if value else "No"
    if isinstance(value, str):
        from portal.plain import date_text

        return date_text(value)  # "4 December 2026"; a month-only date as "December 2026"
    if isinstance(value, date):
        from portal.plain import day

        return day(value)
    if isinstance(value, list):
        return "; ".join(describe_value(v) for v in value)
    if isinstance(value, dict):
        if "event" in value and "on" in value:  # an EU notification (eu_events)
            from portal.rules.eu import EVENT_LABELS

            what = EVENT_LABELS.get(str(value["event"]), "EU event").capitalize()
            if value.get("member_state"):
                what += f" ({value['member_state']})"
            text = f"{what} on {describe_value(value['on'])}"
            notified = value.get("notified_on")
            return text + (
                f", notified {describe_value(notified)}" if notified else ", not notified"
            )
        from portal.rules.labels import fact_words

        return ", ".join(f"{fact_words(k)} {describe_value(v)}" for k, v in value.items())
    return str(value)
