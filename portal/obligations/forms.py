"""The rule parameters form: one field per RULES.md [param] value, and a required note."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import IntegerField, RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, ValidationError

from portal.dates_field import GovDateField
from portal.domain.parameters import PARAMETERS

MAX_VALUE = 36500


class WholeNumberField(IntegerField):
    """An IntegerField whose error for text like "thirty" names the field, GOV.UK style."""

    def __init__(self, *args: Any, plain_label: str = "The value", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain_label = plain_label

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        raw = str(valuelist[0]).strip()
        self.raw_text = raw
        if raw == "":
            self.data = None
            return
        try:
            self.data = int(raw)
        except ValueError:
            self.data = None
            raise ValueError(f"{self.plain_label} must be a whole number, like 30") from None


def _number(key: str) -> WholeNumberField:
    meaning = PARAMETERS[key]
    label = meaning.label
    return WholeNumberField(
        f"{label} ({meaning.kind})",
        widget=GovTextInput(),
        description=meaning.meaning,
        plain_label=label,
        validators=[
            InputRequired(message=f"Enter the {label.lower()} in {meaning.kind}"),
            NumberRange(
                min=0,
                max=MAX_VALUE,
                message=f"{label} must be between 0 and {MAX_VALUE} {meaning.kind}",
            ),
        ],
    )


# The dates a rule parameter may take (portal.rules.params: 1900 to 2199).
FIRST_YEAR, LAST_YEAR = 1900, 2199


class RequiredDate:
    """A date must be entered, within the years a rule parameter may take."""

    def __call__(self, form: Any, field: GovDateField) -> None:
        label = field.label.text
        if field.data is None:
            raise ValidationError(f"Enter the {label[0].lower()}{label[1:]} as day, month and year")
        if not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            raise ValidationError(f"{label} must be a date from {FIRST_YEAR} to {LAST_YEAR}")


def _date(key: str) -> GovDateField:
    meaning = PARAMETERS[key]
    return GovDateField(
        meaning.label,
        description=f"{meaning.meaning} For example, 21 7 2014.",
        validators=[RequiredDate()],
    )


class ParametersForm(FlaskForm):
    due_soon_days = _number("due_soon_days")
    deferral_months = _number("deferral_months")
    deferral_max_years = _number("deferral_max_years")
    lapse_warning_days = _number("lapse_warning_days")
    end_date_tolerance_days = _number("end_date_tolerance_days")
    eu_window_start = _date("eu_window_start")
    old_rules_part_applies = RadioField(
        PARAMETERS["old_rules_part_applies"].label,
        widget=GovRadioInput(),
        description=PARAMETERS["old_rules_part_applies"].meaning,
        choices=[("yes", "Yes, UK-PART applies"), ("no", "No, UK-PART does not apply")],
        validators=[InputRequired(message="Select whether UK-PART applies to old rules trials")],
    )
    note = TextAreaField(
        "Why are the parameters changing?",
        widget=GovTextArea(),
        description="Shown in the history and the audit trail, for example the guidance that "
        "changed.",
        validators=[
            InputRequired(message="Enter a note saying why the parameters change"),
            Length(max=2000, message="The note must be 2000 characters or fewer"),
        ],
    )
    submit = SubmitField("Save as a new version", widget=GovSubmitInput())

    NUMBER_FIELDS = (
        "due_soon_days",
        "deferral_months",
        "deferral_max_years",
        "lapse_warning_days",
        "end_date_tolerance_days",
    )
    DATE_FIELDS = ("eu_window_start",)

    @classmethod
    def initial(cls, values: dict[str, Any]) -> dict[str, Any]:
        data = {key: values[key] for key in cls.NUMBER_FIELDS}
        for key in cls.DATE_FIELDS:  # stored as YYYY-MM-DD
            value = values[key]
            data[key] = date.fromisoformat(value) if isinstance(value, str) else value
        data["old_rules_part_applies"] = "yes" if values["old_rules_part_applies"] else "no"
        return data

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: self[key].data for key in self.NUMBER_FIELDS}
        out.update({key: self[key].data for key in self.DATE_FIELDS})
        out["old_rules_part_applies"] = self.old_rules_part_applies.data == "yes"
        return out
