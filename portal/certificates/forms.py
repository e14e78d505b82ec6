"""Forms for certificates, the verify page and reports, rendered with GOV.UK Frontend widgets."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import GovFileInput, GovSelect, GovSubmitInput, GovTextArea
from wtforms import SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.services.certificates import MAX_REVOKE_REASON

VERIFY_MAX_BYTES = 10 * 1024 * 1024


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        "Why is this certificate revoked?",
        widget=GovTextArea(),
        description="Anyone who checks the certificate sees this reason.",
        validators=[
            InputRequired(message="Enter the reason for revoking the certificate"),
            Length(
                max=MAX_REVOKE_REASON,
                message=f"The reason must be {MAX_REVOKE_REASON} characters or fewer",
            ),
        ],
    )
    submit = SubmitField("Revoke certificate", widget=GovSubmitInput())


class VerifyForm(FlaskForm):
    file = FileField(
        "Upload the certificate PDF to check it",
        widget=GovFileInput(),
        description="The PDF file you were given, smaller than 10 MB. It is not kept.",
        validators=[FileRequired(message="Select the certificate PDF file")],
    )
    submit = SubmitField("Check the file", widget=GovSubmitInput())


class ReportForm(FlaskForm):
    organisation = SelectField(
        "Organisation",
        widget=GovSelect(),
        coerce=int,
        validators=[InputRequired(message="Choose an organisation")],
    )
    submit = SubmitField("Make the report", widget=GovSubmitInput())
