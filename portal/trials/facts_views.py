"""The facts pages of a trial: the facts form (every fact a rule reads), EU notifications and
deferrals (issue 16: every fact any rule reads can be entered or corrected here)."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal import access
from portal.domain.trials.facts import describe_value, imported_source
from portal.forms_util import add_service_error
from portal.models import (
    Trial,
)
from portal.services import (
    ServiceError,
    sponsor_facts,
)
from portal.trials.forms import (
    EU_EVENT_CHOICES,
    FACTS_FORM_KINDS,
    DeferralForm,
    EuEventForm,
    FactsForm,
)
from portal.trials.views import EDITORS, _editable, bp  # noqa: F401

FACT_SECTIONS = (
    ("UK approval and end of trial", (
        "application_submitted_on", "approved_on", "iras_id", "first_participant_on",
        "end_of_trial_on", "early_termination", "end_of_trial_notified_on",
    )),
    ("About the trial", (
        "study_type", "phase", "start_on", "healthy_volunteers", "paediatric", "countries",
    )),
    ("EU numbers", ("eudract_number", "eu_ct_number", "eu_transition_on")),
    ("United States (FDAAA)", (
        "primary_completion_on", "completion_on", "fda_regulated_drug", "fda_regulated_device",
        "device_feasibility", "us_site", "ind_or_ide", "delay_certification_on",
        "good_cause_extension_until", "results_submitted_on",
    )),
)  # fmt: skip


def _load_fact(form, key: str, kind: str, value) -> None:
    field = form[key]
    if value is None:
        return
    if kind == "date":
        from datetime import date

        try:
            field.data = date.fromisoformat(str(value))
        except ValueError:  # a month-only value entered elsewhere: shown beside, not here
            field.data = None
    elif kind == "checkbox":
        field.data = bool(value)
    elif kind == "yes_no":
        field.data = "yes" if value is True else "no" if value is False else ""
    elif kind == "lines":
        field.data = "\n".join(value) if isinstance(value, list) else str(value)
    else:
        field.data = str(value)


def _read_fact(form, key: str, kind: str, current: dict):
    data = form[key].data
    if kind == "date":
        return data
    if kind == "checkbox":
        if data or key in current:
            return bool(data)
        return None
    if kind == "yes_no":
        return {"yes": True, "no": False}.get(data or "")
    if kind == "lines":
        items = [c.strip() for c in (data or "").replace(",", "\n").splitlines()]
        return [c for c in items if c] or None
    return (data or "").strip() or None


def _registry_values(trial: Trial) -> dict[str, str]:
    """The registry's value of each fact, with its source, to show beside the sponsor's."""
    out = {}
    for key, fact in (trial.imported_facts or {}).items():
        if isinstance(fact, dict) and fact.get("value") is not None:
            out[key] = f"{describe_value(fact['value'])} ({imported_source(fact)})"
    return out


def _loaded_facts_form(current: dict) -> FactsForm:
    """The facts form showing the sponsor's current values (not the request's)."""
    form = FactsForm(formdata=None)
    for key, kind in FACTS_FORM_KINDS.items():
        _load_fact(form, key, kind, current.get(key))
    form.iras_id.data = current.get("iras_id") or ""
    return form


def _facts_page(trial: Trial, form, current: dict, **extra):
    return render_template(
        "trials/facts.html",
        trial=trial,
        form=form,
        deferral_form=extra.pop("deferral_form", None) or DeferralForm(prefix="d", formdata=None),
        event_form=extra.pop("event_form", None) or EuEventForm(prefix="e", formdata=None),
        current=current,
        sections=FACT_SECTIONS,
        registry=_registry_values(trial),
        event_labels=dict(EU_EVENT_CHOICES),
        **extra,
    )


@bp.route("/trials/<int:trial_id>/facts", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def facts(trial_id: int):
    trial = _editable(trial_id)
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    form = FactsForm()
    if request.method == "GET":
        form = _loaded_facts_form(current)
    if form.validate_on_submit():
        changes = {
            key: _read_fact(form, key, kind, current) for key, kind in FACTS_FORM_KINDS.items()
        }
        changes["iras_id"] = (form.iras_id.data or "").strip() or None
        changes = {k: v for k, v in changes.items() if v is not None or k in current}
        try:
            changed = sponsor_facts.set_facts(current_user, trial, changes)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash(
                f"Saved {len(changed)} change(s); the duties below are up to date."
                if changed
                else "Nothing changed.",
                "success",
            )
            return redirect(url_for("trials.trial", trial_id=trial.id))
    return _facts_page(trial, form, current)


@bp.route("/trials/<int:trial_id>/eu-events", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def add_eu_event(trial_id: int):
    """Add one EU notification (event, member state, date, notification date)."""
    trial = _editable(trial_id)
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    event_form = EuEventForm(prefix="e")
    if event_form.validate_on_submit():
        entry = {"event": event_form.event.data, "on": event_form.on.data}
        if event_form.notified_on.data:
            entry["notified_on"] = event_form.notified_on.data
        if (event_form.member_state.data or "").strip():
            entry["member_state"] = event_form.member_state.data.strip()
        if entry["on"] is None:
            add_service_error(event_form, ServiceError("Enter the date of the event.", field="on"))
        else:
            try:
                sponsor_facts.set_facts(
                    current_user, trial, {"eu_events": [*(current.get("eu_events") or []), entry]}
                )
            except ServiceError as exc:
                add_service_error(event_form, exc, default_field="event")
            else:
                flash("EU notification saved; the duties are up to date.", "success")
                return redirect(url_for("trials.trial", trial_id=trial.id))
    return _facts_page(trial, _loaded_facts_form(current), current, event_form=event_form)


@bp.route("/trials/<int:trial_id>/eu-events/<int:index>/remove", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def remove_eu_event(trial_id: int, index: int):
    trial = _editable(trial_id)  # CSRF: CSRFProtect checks every POST
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    events = list(current.get("eu_events") or [])
    if not 0 <= index < len(events):
        abort(404)
    del events[index]
    sponsor_facts.set_facts(current_user, trial, {"eu_events": events or None})
    flash("EU notification removed; the duties are up to date.", "success")
    return redirect(url_for("trials.facts", trial_id=trial.id))


@bp.route("/trials/<int:trial_id>/deferrals", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def add_deferral(trial_id: int):
    trial = _editable(trial_id)
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    form = _loaded_facts_form(current)
    deferral_form = DeferralForm(prefix="d")
    if deferral_form.validate_on_submit():
        entry = {"duty": deferral_form.duty.data, "reference": deferral_form.reference.data.strip()}
        key = "waivers" if deferral_form.kind.data == "waiver" else "deferrals"
        if key == "deferrals":
            entry["requested_on"] = deferral_form.requested_on.data
            entry["until"] = deferral_form.until.data
        try:
            sponsor_facts.set_facts(current_user, trial, {key: [*(current.get(key) or []), entry]})
        except ServiceError as exc:
            field = {
                "deferral_duty": "duty",
                "deferral_requested_on": "requested_on",
                "deferral_until": "until",
                "deferral_reference": "reference",
            }.get(exc.field or "", "duty")
            add_service_error(deferral_form, ServiceError(exc.message, field=field))
        else:
            flash(
                f"{'Waiver' if key == 'waivers' else 'Deferral'} recorded for review.",
                "success",
            )
            return redirect(url_for("trials.trial", trial_id=trial.id))
    return _facts_page(trial, form, current, deferral_form=deferral_form, deferral_errors=True)
