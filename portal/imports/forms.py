"""The upload form: one registry export file (any supported format, or a zip of them)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import GovFileInput, GovSubmitInput
from wtforms import SubmitField


class UploadForm(FlaskForm):
    export = FileField(
        "Registry export",
        widget=GovFileInput(),
        description=(
            "A ClinicalTrials.gov, ISRCTN, EU (EUCTR or CTIS) or WHO ICTRP export in any format "
            "the portal reads (JSON, XML, CSV or text), or a zip file of them."
        ),
        validators=[FileRequired(message="Select a registry export to upload")],
    )
    submit = SubmitField("Upload and import", widget=GovSubmitInput())
