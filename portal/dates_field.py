"""A GOV.UK date input (day, month, year boxes) with messages people understand."""

from __future__ import annotations

from datetime import date

from govuk_frontend_wtf.wtforms_widgets import GovDateInput
from wtforms import Field


class GovDateField(Field):
    """Optional date from three boxes; a partly filled or impossible date is an error."""

    widget = GovDateInput()

    def __init__(self, label: str | None = None, validators=None, **kwargs) -> None:
        super().__init__(label, validators, **kwargs)

    def _value(self) -> str:
        return self.data.strftime("%d %m %Y") if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            self.raw_data = None  # the widget then shows the stored value, if any
            return
        parts = [(v or "").strip() for v in valuelist[:3]]
        self.raw_data = (parts + ["", "", ""])[:3]
        if not any(parts):
            self.data = None
            return
        label = self.label.text
        names = ("day", "month", "year")
        missing = [name for name, part in zip(names, parts, strict=False) if not part]
        if missing or len(parts) < 3:
            self.data = None
            raise ValueError(f"{label} must include a {' and '.join(missing or ['day'])}")
        if not all(p.isdigit() for p in parts):
            self.data = None
            raise ValueError(f"{label} must be a real date, like 27 3 2026")
        day, month, year = (int(p) for p in parts)
        if not 1000 <= year <= 9999:
            self.data = None
            raise ValueError(f"{label}: enter the year with 4 digits, like 2026")
        try:
            self.data = date(year, month, day)
        except (ValueError, OverflowError):  # a day or month too big for a C int overflows
            self.data = None
            raise ValueError(f"{label} must be a real date, like 27 3 2026") from None
