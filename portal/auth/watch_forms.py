"""The watch list form on the organisation page (issue 19)."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextInput
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import InputRequired, Length


class WatchForm(FlaskForm):
    kind = RadioField(
        "What to watch",
        widget=GovRadioInput(),
        choices=[
            ("sponsor", "A sponsor name, as the registries spell it"),
            ("trial", "A trial, by its ClinicalTrials.gov or ISRCTN number"),
        ],
        validators=[InputRequired(message="Choose a sponsor name or a trial number")],
    )
    value = StringField(
        "Sponsor name or trial number",
        widget=GovTextInput(),
        description="For example Example Health NHS Trust, NCT01234567 or ISRCTN12345678",
        validators=[
            InputRequired(message="Enter a sponsor name or a trial number"),
            Length(max=500, message="Enter 500 characters or fewer"),
        ],
    )
    submit = SubmitField("Add to watch list", widget=GovSubmitInput())
