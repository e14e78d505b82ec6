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
from wtforms import BooleanField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.dates_field import GovDateField
from portal.models.claims import RELATIONS


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


class FactsForm(FlaskForm):
    application_submitted_on = GovDateField(
        "Application submitted", description="When the combined review application was submitted."
    )
    approved_on = GovDateField("UK approval date", description="MHRA and ethics approval.")
    iras_id = StringField("IRAS id", widget=GovTextInput(), validators=[Optional(), Length(max=7)])
    first_participant_on = GovDateField("First UK participant recruited")
    end_of_trial_on = GovDateField(
        "End of trial",
        description="As the protocol defines it; for multinational trials, the end everywhere.",
    )
    early_termination = BooleanField(
        "The trial ended early (terminated)", widget=GovCheckboxInput()
    )
    end_of_trial_notified_on = GovDateField(
        "End of trial notified to MHRA and the ethics committee"
    )
    submit = SubmitField("Save facts", widget=GovSubmitInput())


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
    organisation = SelectField(
        "Transfer to",
        widget=GovSelect(),
        coerce=int,
        validators=[InputRequired(message="Choose an organisation")],
    )
    submit = SubmitField("Transfer trial", widget=GovSubmitInput())


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
