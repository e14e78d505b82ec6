"""Facts only the sponsor knows: validated, kept with full history, obligations recomputed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Obligation, SponsorFact, Trial, User
from portal.rules import Facts, FactsError
from portal.rules.labels import FACT_LABELS
from portal.services import ServiceError, transactional
from portal.services.audit import record
from portal.timeutil import today

DATE_KEYS = (
    "application_submitted_on",
    "approved_on",
    "first_participant_on",
    "end_of_trial_on",
    "end_of_trial_notified_on",
    "participant_summary_offered_on",
    "start_on",
    "primary_completion_on",
    "completion_on",
    "eu_transition_on",
    "delay_certification_on",
    "good_cause_extension_until",
    "results_submitted_on",
)
PAST_ONLY = {
    "application_submitted_on": "The application date",
    "approved_on": "The UK approval date",
    "first_participant_on": "The first UK participant date",
    "end_of_trial_notified_on": "The end-of-trial notification date",
    "participant_summary_offered_on": "The date participants were offered the results",
    "eu_transition_on": "The date of transition to the EU Clinical Trials Regulation",
    "delay_certification_on": "The delay certification date",
    "results_submitted_on": "The date results were first submitted",
}
LABELS = {
    **FACT_LABELS,
    "application_submitted_on": "Application submitted",
    "approved_on": "UK approval date",
    "iras_id": "IRAS id",
    "first_participant_on": "First UK participant recruited",
    "end_of_trial_on": "End of trial",
    "early_termination": "Ended early",
    "end_of_trial_notified_on": "End of trial notified to MHRA and ethics",
    "participant_summary_offered_on": "Participants offered the results",
    "deferrals": "Deferrals",
    "waivers": "Waivers",
    "results_posted": "Results posted (entered with evidence)",
}
FAR_FUTURE_YEARS = 10
DEFERRABLE = ("UK-REG", "UK-RES", "UK-PART")


def current_facts(trial_id: int) -> dict[str, SponsorFact]:
    rows = db.session.execute(
        sa.select(SponsorFact).where(
            SponsorFact.trial_id == trial_id, SponsorFact.current.is_(True)
        )
    ).scalars()
    return {row.key: row for row in rows}


def fact_history(trial_id: int) -> list[SponsorFact]:
    return list(
        db.session.execute(
            sa.select(SponsorFact)
            .where(SponsorFact.trial_id == trial_id)
            .order_by(SponsorFact.entered_at.desc(), SponsorFact.id.desc())
        ).scalars()
    )


def _as_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def validate(
    values: dict[str, Any], trial_id: int, as_of: date, previous: dict[str, Any] | None = None
) -> None:
    """Raise ServiceError (naming the field) for facts that cannot be right. ``previous``: the
    facts as stored; a deferral already among them is not checked against the duty again (it
    was when it was asked for, and the deferral itself has since moved the duty)."""
    dates = {key: _as_date(values.get(key)) for key in DATE_KEYS}
    for key, label in PAST_ONLY.items():
        if dates[key] and dates[key] > as_of:
            raise ServiceError(f"{label} must be today or in the past.", field=key)
    far = as_of + timedelta(days=365 * FAR_FUTURE_YEARS)
    for key, value in dates.items():
        if value and value > far:
            raise ServiceError(
                f"{LABELS[key]} is more than {FAR_FUTURE_YEARS} years away: check the year.",
                field=key,
            )
        if value and value.year < 1990:
            raise ServiceError(f"{LABELS[key]} is before 1990: check the year.", field=key)
    applied, approved, first = (
        dates["application_submitted_on"],
        dates["approved_on"],
        dates["first_participant_on"],
    )
    if applied and approved and approved < applied:
        raise ServiceError(
            "The UK approval date must be the same as or after the application date.",
            field="approved_on",
        )
    if approved and first and first < approved:
        raise ServiceError(
            "The first UK participant must be recruited on or after the UK approval date.",
            field="first_participant_on",
        )
    if dates["end_of_trial_on"] and first and dates["end_of_trial_on"] < first:
        raise ServiceError(
            "The end of trial must be after the first participant was recruited.",
            field="end_of_trial_on",
        )
    iras = values.get("iras_id")
    if iras and not (str(iras).isdigit() and 5 <= len(str(iras)) <= 7):
        raise ServiceError("An IRAS id is 5 to 7 digits, like 312345.", field="iras_id")
    known = (previous or {}).get("deferrals") or []
    for deferral in values.get("deferrals") or []:
        _validate_deferral(deferral, trial_id, deferral not in known)
    _validate_rules_facts(values)
    for i, event in enumerate(values.get("eu_events") or []):
        _validate_eu_event(event, i, as_of)


# Messages for values the rules refuse, next to the field (users never see the fact keys).
_FORMAT_MESSAGES = {
    "eudract_number": "A EudraCT number looks like 2017-001234-56.",
    "eu_ct_number": "An EU CT number looks like 2023-501234-12-00.",
}


def _validate_rules_facts(values: dict[str, Any]) -> None:
    """Every value the rules read must be one Facts.from_dict accepts: refused with a message
    next to its field, never stored (so the rules never drop it later)."""
    for key, value in values.items():
        if key in ("iras_id", "results_posted", "deferrals", "waivers") or value is None:
            continue
        try:
            Facts.from_dict({key: value})
        except FactsError as exc:
            if key == "eu_events":
                continue  # checked item by item, with its own messages
            text = _FORMAT_MESSAGES.get(key)
            if text is None:
                detail = str(exc).split(": ", 1)[-1]
                text = f"{LABELS.get(key, 'This value')}: {detail}."
            raise ServiceError(text, field=key) from None


def _validate_eu_event(event: dict[str, Any], index: int, as_of: date) -> None:
    """One EU notification: a known event, a date, and a notification not before the event."""
    from portal.rules.facts import EU_END_EVENTS, EU_START_EVENTS
    from portal.rules.reference import EU_EEA_COUNTRIES, country_key

    if event.get("event") not in EU_START_EVENTS + EU_END_EVENTS:
        raise ServiceError("Choose the event.", field="event")
    on = _as_date(event.get("on"))
    if on is None:
        raise ServiceError("Enter the date of the event.", field="on")
    if on.year < 1990 or on > as_of + timedelta(days=365 * FAR_FUTURE_YEARS):
        raise ServiceError("The date of the event is not plausible: check the year.", field="on")
    notified = _as_date(event.get("notified_on"))
    if notified is not None and notified < on:
        raise ServiceError(
            "The notification date must be the same as or after the event.", field="notified_on"
        )
    if notified is not None and notified > as_of:
        raise ServiceError(
            "The notification date must be today or in the past.", field="notified_on"
        )
    state = (event.get("member_state") or "").strip()
    if state and country_key(state) not in EU_EEA_COUNTRIES:
        raise ServiceError(
            f"{state} is not an EU or EEA member state: enter one, like Germany.",
            field="member_state",
        )


def _validate_deferral(deferral: dict[str, Any], trial_id: int, new: bool = True) -> None:
    """RULES.md uk-2026 "Deferrals and waivers": a deferral is asked for a duty not yet done,
    and "the request must be made before that duty's due date" (``new``: just asked for)."""
    duty = deferral.get("duty")
    if duty not in DEFERRABLE:
        raise ServiceError("Choose the duty the deferral is for.", field="deferral_duty")
    requested = _as_date(deferral.get("requested_on"))
    until = _as_date(deferral.get("until"))
    if requested is None:
        raise ServiceError(
            "Enter the date the deferral was requested.", field="deferral_requested_on"
        )
    if until is None or until <= requested:
        raise ServiceError(
            "The deferral must end after the date it was requested.", field="deferral_until"
        )
    if not (deferral.get("reference") or "").strip():
        raise ServiceError("Enter the HRA reference of the deferral.", field="deferral_reference")
    if not new:
        return
    row = db.session.execute(
        sa.select(Obligation.status, Obligation.due, Obligation.verdict).where(
            Obligation.trial_id == trial_id, Obligation.duty == duty
        )
    ).one_or_none()
    if row is None:
        return
    status, due, verdict = row
    if status in ("met", "met_late"):
        met_on = _as_date((verdict or {}).get("met_on"))
        when = f" on {met_on:%-d %B %Y}" if met_on else ""
        raise ServiceError(
            f"A deferral can only be asked for a duty not yet done: {duty} was done{when}, "
            "so there is nothing to defer.",
            field="deferral_duty",
        )
    if due is not None and requested >= due:
        raise ServiceError(
            f"A deferral must be requested before the duty's deadline: {duty} was due on "
            f"{due:%-d %B %Y}, and this one was requested on {requested:%-d %B %Y}.",
            field="deferral_requested_on",
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@transactional
def set_facts(
    user: User, trial: Trial, changes: dict[str, Any], as_of: date | None = None
) -> list[str]:
    """Store changed facts (a new history row each), audit, and recompute the obligations.

    Returns the keys that changed. Values that equal the current ones are not stored again.
    """
    as_of = as_of or today()
    existing = current_facts(trial.id)
    merged = {key: row.value for key, row in existing.items()}
    changes = {key: _jsonable(value) for key, value in changes.items()}
    merged.update(changes)
    validate(merged, trial.id, as_of, {key: row.value for key, row in existing.items()})

    changed = [k for k, v in changes.items() if (existing[k].value if k in existing else None) != v]
    if not changed:
        return []
    for key in changed:
        if key in existing:
            existing[key].current = False
        db.session.add(
            SponsorFact(
                trial_id=trial.id,
                key=key,
                value=changes[key],
                entered_by_id=user.id,
                entered_by_label=user.email,
                current=True,
            )
        )
    db.session.flush()
    record(
        "trial.facts_changed",
        "trial",
        trial.id,
        actor=user,
        organisation_id=trial.owner_organisation_id,
        before={k: existing[k].value if k in existing else None for k in changed},
        after={k: changes[k] for k in changed},
    )
    if "deferrals" in changed or "waivers" in changed:  # a reviewer confirms each new one
        from portal.services.review import submit_new_deferrals

        submit_new_deferrals(user, trial, {k: existing[k].value for k in existing}, changes)
    from portal.services.obligations import recompute_for_trials

    recompute_for_trials([trial.id], reason="sponsor_fact", as_of=as_of)
    return changed
