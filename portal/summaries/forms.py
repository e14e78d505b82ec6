"""Forms for lay summaries, results evidence, the participant offer and reviewer decisions."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovFileInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from portal.dates_field import GovDateField
from portal.services.review import DECISIONS
from portal.services.summaries import AUDIENCES, METHODS

FILE_HINT = "PDF, Word (DOCX), plain text or Markdown, smaller than 10 MB."


class SummaryUploadForm(FlaskForm):
    file = FileField(
        "Upload the lay summary",
        widget=GovFileInput(),
        description=FILE_HINT,
        validators=[FileRequired(message="Select the file with the lay summary")],
    )
    submit = SubmitField("Upload and check", widget=GovSubmitInput())


class ResultsPostedForm(FlaskForm):
    posted_on = GovDateField("Date the results were posted", description="For example, 27 3 2027.")
    evidence_url = StringField(
        "Link to the results in the registry",
        widget=GovTextInput(),
        description="The web address of the results on the registry's own site.",
        validators=[InputRequired(message="Enter the link to the results"), Length(max=500)],
    )
    submit = SubmitField("Save", widget=GovSubmitInput())

    def validate_posted_on(self, field: GovDateField) -> None:
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date the results were posted")


class ParticipantOfferForm(FlaskForm):
    offered_on = GovDateField("Date participants were offered the results")
    method = RadioField(
        "How were they offered the results?",
        widget=GovRadioInput(),
        choices=list(METHODS.items()),
        validators=[InputRequired(message="Choose how the results were offered")],
    )
    audience = SelectMultipleField(
        "Who was offered the results?",
        widget=GovCheckboxesInput(),
        choices=list(AUDIENCES.items()),
        description="Select all that apply.",
        validators=[InputRequired(message="Choose who was offered the results")],
    )
    summary_version = SelectField(
        "The approved summary that was sent",
        widget=GovSelect(),
        coerce=int,
        choices=[],
        default=0,
    )
    file = FileField(
        "Or upload the summary that was sent",
        widget=GovFileInput(),
        description=FILE_HINT,
    )
    notes = TextAreaField(
        "Notes (optional)",
        widget=GovTextArea(),
        validators=[
            Optional(),
            Length(max=2000, message="Notes must be 2,000 characters or fewer"),
        ],
    )
    submit = SubmitField("Record the offer", widget=GovSubmitInput())

    def validate_offered_on(self, field: GovDateField) -> None:
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date participants were offered the results")


class ReviewDecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        widget=GovRadioInput(),
        choices=list(DECISIONS.items()),
        validators=[InputRequired(message="Choose approve or request changes")],
    )
    comment = TextAreaField(
        "Comment for the sponsor",
        widget=GovTextArea(),
        description="Required when you request changes. The sponsor sees it on the trial page.",
        validators=[Length(max=5000, message="The comment must be 5,000 characters or fewer")],
    )
    submit = SubmitField("Save decision", widget=GovSubmitInput())

    def validate_comment(self, field: TextAreaField) -> None:
        if self.decision.data == "request_changes" and not (field.data or "").strip():
            raise ValidationError("Enter a comment saying what the sponsor needs to change")


class JargonForm(FlaskForm):
    term = StringField(
        "Word or phrase",
        widget=GovTextInput(),
        validators=[InputRequired(message="Enter the word or phrase to flag"), Length(max=100)],
    )
    plain = StringField(
        "Plainer words (optional)",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=200)],
    )
    submit = SubmitField("Add to the list", widget=GovSubmitInput())
