"""The tracker's forms: opting in, a sponsor's response, a reviewer's decision on it."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.services.tracker.public import RESPONSE_MAX


class DisclosureForm(FlaskForm):
    choice = RadioField(
        "Show your organisation's own facts on the public tracker?",
        widget=GovRadioInput(),
        choices=[
            ("in", "Yes, show the facts we entered beside the registry's figures"),
            ("out", "No, show registry records only"),
        ],
        validators=[InputRequired(message="Choose whether to show your own facts")],
    )
    submit = SubmitField("Save choice", widget=GovSubmitInput())


class ResponseForm(FlaskForm):
    duty = RadioField(
        "Which verdict is your response about?",
        widget=GovRadioInput(),
        validators=[InputRequired(message="Choose the verdict your response is about")],
    )
    body = TextAreaField(
        "Your response",
        widget=GovTextArea(),
        description=f"Up to {RESPONSE_MAX} characters. A reviewer reads it before it appears.",
        validators=[
            InputRequired(message="Enter your response"),
            Length(max=RESPONSE_MAX, message=f"Use {RESPONSE_MAX} characters or fewer"),
        ],
    )
    submit = SubmitField("Send for review", widget=GovSubmitInput())


class ResponseDecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        widget=GovRadioInput(),
        choices=[("publish", "Publish it on the tracker"), ("reject", "Do not publish it")],
        validators=[InputRequired(message="Choose whether to publish the response")],
    )
    note = TextAreaField("Reason (needed if you do not publish it)", widget=GovTextArea())
    submit = SubmitField("Save decision", widget=GovSubmitInput())
