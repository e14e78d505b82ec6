"""Forms for the audit log filters and the reviewer's audit samples."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import IntegerField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from portal.dates_field import GovDateField
from portal.services.review import FINDINGS, SAMPLE_MAX, SAMPLE_SIZE


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a search (GET) changes nothing

    organisation = SelectField(
        "Organisation", widget=GovSelect(), coerce=int, choices=[], default=0
    )
    trial = StringField(
        "Trial number",
        widget=GovTextInput(),
        description="The number in the trial page's address, like 42.",
        validators=[Optional(), Length(max=12)],
    )
    user = StringField(
        "User's email address (or part of it)",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=254)],
    )
    action = SelectField("Action", widget=GovSelect(), choices=[], default="")
    date_from = GovDateField("From")
    date_to = GovDateField("To")
    submit = SubmitField("Apply filters", widget=GovSubmitInput())

    def validate_trial(self, field: StringField) -> None:
        value = (field.data or "").strip()
        if value and not value.isdigit():
            raise ValidationError("Enter the trial number in digits, like 42")

    def validate_date_to(self, field: GovDateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The 'to' date must be the same as or after the 'from' date")


class SampleForm(FlaskForm):
    size = IntegerField(
        "How many met duties to sample",
        widget=GovTextInput(),
        default=SAMPLE_SIZE,
        validators=[
            InputRequired(message="Enter how many duties to sample"),
            NumberRange(
                min=1, max=SAMPLE_MAX, message=f"Enter a number between 1 and {SAMPLE_MAX}"
            ),
        ],
    )
    submit = SubmitField("Draw a sample", widget=GovSubmitInput())


class FindingForm(FlaskForm):
    finding = RadioField(
        "Finding",
        widget=GovRadioInput(),
        choices=list(FINDINGS.items()),
        validators=[InputRequired(message="Choose confirmed or problem found")],
    )
    notes = TextAreaField(
        "Notes",
        widget=GovTextArea(),
        description="Required when you found a problem.",
        validators=[Length(max=5000, message="Notes must be 5,000 characters or fewer")],
    )
    submit = SubmitField("Save finding", widget=GovSubmitInput())

    def validate_notes(self, field: TextAreaField) -> None:
        if self.finding.data == "problem" and not (field.data or "").strip():
            raise ValidationError("Describe the problem you found")
