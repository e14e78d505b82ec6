"""Forms for the sponsor's trial pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from portal.dates_field import GovDateField
from portal.models.claims import RELATIONS
from portal.rules.facts import PHASES
from portal.rules.labels import FACT_LABELS


class FindTrialForm(FlaskForm):
    class Meta:
        csrf = False  # a search (GET) changes nothing

    q = StringField(
        "Registry id, title or sponsor name",
        widget=GovTextInput(),
        description="For example NCT01234567, ISRCTN12345678, 2024-123456-12 or part of the title.",
        validators=[
            InputRequired(message="Enter a registry id, a title or a sponsor name"),
            Length(min=3, max=200, message="Enter at least 3 characters"),
        ],
    )


_L = FACT_LABELS
YES_NO = [("", "Not known"), ("yes", "Yes"), ("no", "No")]


def _yes_no(key: str, description: str | None = None) -> SelectField:
    return SelectField(
        _L[key], widget=GovSelect(), choices=YES_NO, description=description, default=""
    )


class FactsForm(FlaskForm):
    """Every fact a rule reads that is not entered elsewhere (deferrals and waivers, EU
    notifications, results and the participant offer have their own forms): RULES.md "Every fact
    a rule reads can be entered or corrected by the sponsor". Labels: portal.rules.labels."""

    application_submitted_on = GovDateField(
        _L["application_submitted_on"],
        description="When the combined review application was submitted.",
    )
    approved_on = GovDateField(_L["approved_on"], description="MHRA and ethics approval.")
    iras_id = StringField("IRAS id", widget=GovTextInput(), validators=[Optional(), Length(max=7)])
    first_participant_on = GovDateField(_L["first_participant_on"])
    end_of_trial_on = GovDateField(
        _L["end_of_trial_on"],
        description="As the protocol defines it; for multinational trials, the end everywhere.",
    )
    early_termination = BooleanField(
        "The trial ended early (terminated)", widget=GovCheckboxInput()
    )
    end_of_trial_notified_on = GovDateField(
        "End of trial notified to MHRA and the ethics committee"
    )
    # The trial
    study_type = SelectField(
        _L["study_type"],
        widget=GovSelect(),
        choices=[("", "Not known"), ("interventional", "Interventional (a clinical trial)"),
                 ("observational", "Observational")],
        default="",
    )  # fmt: skip
    phase = SelectField(
        _L["phase"],
        widget=GovSelect(),
        choices=[("", "Not known")]
        + [(p, "Not applicable" if p == "n/a" else f"Phase {p}") for p in PHASES],
        default="",
    )
    start_on = GovDateField(_L["start_on"])
    healthy_volunteers = _yes_no("healthy_volunteers")
    paediatric = _yes_no("paediatric", "Participants under 18.")
    countries = TextAreaField(
        _L["countries"],
        widget=GovTextArea(),
        description="One country a line, for example United Kingdom, Germany.",
        validators=[Optional(), Length(max=4000)],
    )
    # EU
    eudract_number = StringField(
        _L["eudract_number"],
        widget=GovTextInput(),
        description="Trials under the EU Directive, like 2017-001234-56.",
        validators=[Optional(), Length(max=40)],
    )
    eu_ct_number = StringField(
        _L["eu_ct_number"],
        widget=GovTextInput(),
        description="Trials under the EU Clinical Trials Regulation, like 2023-501234-12-00.",
        validators=[Optional(), Length(max=40)],
    )
    eu_transition_on = GovDateField(
        _L["eu_transition_on"],
        description="For a Directive trial moved to the EU Clinical Trials Regulation (CTIS).",
    )
    # US
    primary_completion_on = GovDateField(_L["primary_completion_on"])
    completion_on = GovDateField(_L["completion_on"])
    fda_regulated_drug = _yes_no("fda_regulated_drug")
    fda_regulated_device = _yes_no("fda_regulated_device")
    device_feasibility = _yes_no("device_feasibility")
    us_site = _yes_no("us_site")
    ind_or_ide = _yes_no("ind_or_ide")
    delay_certification_on = GovDateField(_L["delay_certification_on"])
    good_cause_extension_until = GovDateField(_L["good_cause_extension_until"])
    results_submitted_on = GovDateField(
        _L["results_submitted_on"],
        description="The first submission date, even if quality control returned it.",
    )
    submit = SubmitField("Save facts", widget=GovSubmitInput())


# How a sponsor enters or corrects each fact the rules read (RULES.md "Every fact a rule reads
# can be entered or corrected by the sponsor"): fact key -> (endpoint, form field or None).
# tests/trials/test_facts_form.py walks portal.rules.facts.FACT_KEYS against it.
FACT_WAYS_IN: dict[str, tuple[str, str | None]] = {
    **{key: ("trials.facts", key) for key in (
        "study_type", "application_submitted_on", "approved_on", "first_participant_on",
        "end_of_trial_on", "early_termination", "primary_completion_on", "completion_on",
        "start_on", "phase", "healthy_volunteers", "paediatric", "countries",
        "fda_regulated_drug", "fda_regulated_device", "us_site", "ind_or_ide",
        "device_feasibility", "end_of_trial_notified_on", "delay_certification_on",
        "good_cause_extension_until", "results_submitted_on", "eudract_number", "eu_ct_number",
        "eu_transition_on",
    )},
    "eu_events": ("trials.add_eu_event", "event"),
    "deferrals": ("trials.add_deferral", "duty"),
    "waivers": ("trials.add_deferral", "kind"),
    # Registry entries come from the registries (import) or the add-trial form; results per
    # registry entry and the participant offer are recorded with their evidence.
    "registrations": ("summaries.results", None),
    "participant_summary_offered_on": ("summaries.offer", None),
    # The registry's own end of trial, kept beside the sponsor's (portal.domain.trials.facts).
    "registry_end_of_trial_on": ("trials.facts", "end_of_trial_on"),
}  # fmt: skip

# How each FactsForm field is read and stored: fact key -> kind.
FACTS_FORM_KINDS: dict[str, str] = {
    "application_submitted_on": "date",
    "approved_on": "date",
    "first_participant_on": "date",
    "end_of_trial_on": "date",
    "end_of_trial_notified_on": "date",
    "early_termination": "checkbox",
    "study_type": "choice",
    "phase": "choice",
    "start_on": "date",
    "healthy_volunteers": "yes_no",
    "paediatric": "yes_no",
    "countries": "lines",
    "eudract_number": "text",
    "eu_ct_number": "text",
    "eu_transition_on": "date",
    "primary_completion_on": "date",
    "completion_on": "date",
    "fda_regulated_drug": "yes_no",
    "fda_regulated_device": "yes_no",
    "device_feasibility": "yes_no",
    "us_site": "yes_no",
    "ind_or_ide": "yes_no",
    "delay_certification_on": "date",
    "good_cause_extension_until": "date",
    "results_submitted_on": "date",
}


EU_EVENT_CHOICES = [
    ("", "Choose the event"),
    ("trial_start", "Start of trial"),
    ("first_visit", "First visit of the first participant"),
    ("recruitment_end", "End of recruitment"),
    ("end_member_state", "End of trial in a member state"),
    ("end_all_member_states", "End of trial in all member states"),
    ("end_worldwide", "End of trial worldwide"),
    ("early_termination", "Early termination"),
]


class EuEventForm(FlaskForm):
    """One EU notification (RULES.md eu-ctr EU-START and EU-END): the event, the member state,
    when it happened and when it was notified."""

    event = SelectField(
        "Event",
        widget=GovSelect(),
        choices=EU_EVENT_CHOICES,
        validators=[InputRequired(message="Choose the event")],
    )
    member_state = StringField(
        "Member state",
        widget=GovTextInput(),
        description="For example Germany. Leave empty for events in all member states.",
        validators=[Optional(), Length(max=60)],
    )
    on = GovDateField("Date of the event")
    notified_on = GovDateField("Date notified", description="Leave empty if not notified yet.")
    submit = SubmitField("Add EU notification", widget=GovSubmitInput())


class DeferralForm(FlaskForm):
    kind = RadioField(
        "What was granted?",
        widget=GovRadioInput(),
        choices=[("deferral", "A deferral"), ("waiver", "A waiver (exceptional)")],
        validators=[InputRequired(message="Choose deferral or waiver")],
    )
    duty = SelectField(
        "Duty",
        widget=GovSelect(),
        choices=[
            ("", "Choose a duty"),
            ("UK-REG", "UK-REG: register the trial"),
            ("UK-RES", "UK-RES: publish a summary of results"),
            ("UK-PART", "UK-PART: offer participants the results"),
        ],
        validators=[InputRequired(message="Choose the duty")],
    )
    reference = StringField(
        "HRA reference",
        widget=GovTextInput(),
        validators=[InputRequired(message="Enter the HRA reference"), Length(max=100)],
    )
    requested_on = GovDateField("Date requested", description="Deferrals only.")
    until = GovDateField("Deferred until", description="Deferrals only.")
    submit = SubmitField("Add", widget=GovSubmitInput())


class AddTrialForm(FlaskForm):
    identifier = StringField(
        "Registry id",
        widget=GovTextInput(),
        description="NCT, ISRCTN, EudraCT or EU CT number, or the IRAS id.",
        validators=[InputRequired(message="Enter the registry id"), Length(max=40)],
    )
    title = StringField(
        "Trial title",
        widget=GovTextInput(),
        validators=[InputRequired(message="Enter the trial's title"), Length(max=500)],
    )
    sponsor_name = StringField(
        "Sponsor name as registered",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=500)],
    )
    registered_on = GovDateField("Date registered")
    submit = SubmitField("Add trial", widget=GovSubmitInput())


class ReleaseForm(FlaskForm):
    reason = TextAreaField(
        "Why are you releasing this trial?",
        widget=GovTextArea(),
        validators=[InputRequired(message="Enter a reason"), Length(max=1000)],
    )
    submit = SubmitField("Release trial", widget=GovSubmitInput())


class TransferForm(FlaskForm):
    """Find the receiving organisation by its exact name or email domain (the portal never lists
    its organisations to a sponsor), then confirm; ``organisation`` carries the one found."""

    recipient = StringField(
        "The receiving organisation's exact name or email domain",
        widget=GovTextInput(),
        description="For example Acme Pharma Ltd or acme-pharma.com. Ask them for it.",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[Length(max=254, message="Enter 254 characters or fewer")],
    )
    organisation = IntegerField(widget=HiddenInput(), validators=[Optional()])
    submit = SubmitField("Find the organisation", widget=GovSubmitInput())

    def validate_recipient(self, field: StringField) -> None:
        if not field.data and not self.organisation.data:
            raise ValidationError("Enter the receiving organisation's exact name or email domain")


class ClaimForm(FlaskForm):
    """Claiming a trial: what the organisation is to it, and a confirmation."""

    relation = RadioField(
        "What is your organisation to this trial?",
        widget=GovRadioInput(),
        choices=list(RELATIONS.items()),
        validators=[InputRequired(message="Choose what your organisation is to this trial")],
    )
    relation_detail = StringField(
        "If something else, what?",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=500, message="Use 500 characters or fewer")],
    )
    confirm = BooleanField(
        "I confirm that my organisation is responsible for this trial's transparency duties as "
        "stated, and that a reviewer may check it",
        widget=GovCheckboxInput(),
        validators=[InputRequired(message="Confirm that your organisation is responsible")],
    )
    submit = SubmitField("Claim this trial", widget=GovSubmitInput())
