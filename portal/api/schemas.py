"""marshmallow schemas of the API: they validate the query strings and bodies, shape every
response, and are what apispec turns into the OpenAPI document. Every response schema is
exact: each property is declared, required, and nothing else may appear."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from portal.plain import STATUS_LABELS
from portal.timeutil import aware

RULESETS = ("uk-2026", "eu-ctr", "us-fdaaa")
STATUSES = tuple(STATUS_LABELS)
# PostgreSQL text cannot hold NUL: such a value is refused (422), not sent to the database.
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="Must not contain a NUL character.")
CURSOR = validate.Regexp(r"^[0-9]{1,10}$", error="Not a cursor this API gave out.")


MAX_ID = 2**31 - 1  # ids are 32-bit integers on every backend


def cursor_id(cursor: str) -> int:
    """The id a cursor stands for, within the ids' range (a larger one reads as the largest)."""
    return min(int(cursor), MAX_ID)


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True


class When(fields.DateTime):
    """A moment in UTC with its offset (SQLite gives back naive datetimes)."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any):
        return super()._serialize(aware(value), attr, obj, **kwargs)


def req(field_cls: type[fields.Field], *args: Any, **kwargs: Any) -> fields.Field:
    """A response property that is always present (``null`` where ``nullable``)."""
    nullable = kwargs.pop("nullable", False)
    return field_cls(*args, required=True, allow_none=nullable, **kwargs)


# --- problems ----------------------------------------------------------------------------------


class ProblemSchema(Strict):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Validation errors, by parameter or property"},
    )


# --- query strings ------------------------------------------------------------------------------


class PageArgs(Strict):
    cursor = fields.String(
        validate=CURSOR,
        metadata={"description": "The next_cursor of the previous page (opaque)"},
    )
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class TrialListArgs(PageArgs):
    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "Trials with at least one verdict of this status"},
    )
    ruleset = fields.String(
        validate=validate.OneOf(RULESETS),
        metadata={"description": "Trials with at least one duty under this rule set"},
    )
    due_within = fields.Integer(
        validate=validate.Range(min=0, max=3650),
        metadata={"description": "Trials with an open duty due within this many days"},
    )
    q = fields.String(
        validate=[validate.Length(min=1, max=200), NO_NUL],
        metadata={"description": "Text in the title or sponsor name, or an exact identifier"},
    )


class ObligationListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    ruleset = fields.String(validate=validate.OneOf(RULESETS))
    due_within = fields.Integer(validate=validate.Range(min=0, max=3650))


class AuditListArgs(PageArgs):
    action = fields.String(validate=[validate.Length(min=1, max=60), NO_NUL])
    trial_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class ReportRequestBody(Strict):
    organisation_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Needed by reviewers and administrators; defaults to yours"},
    )


# --- trials ------------------------------------------------------------------------------------


class IdentifierSchema(Strict):
    registry = req(fields.String)
    registry_id = req(fields.String)
    url = req(fields.String, nullable=True)


class NextDutySchema(Strict):
    duty = req(fields.String)
    title = req(fields.String)
    status = req(fields.String)
    status_label = req(fields.String)
    due = req(fields.Date, nullable=True)


class TrialSummarySchema(Strict):
    id = req(fields.Integer)
    title = req(fields.String)
    sponsor_name = req(fields.String, nullable=True)
    overall_status = req(fields.String, nullable=True)
    registries = req(fields.List, fields.Nested(IdentifierSchema))
    next_duty = req(fields.Nested, NextDutySchema, nullable=True)
    counts = req(
        fields.Dict,
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Number of verdicts by status"},
    )
    url = req(fields.String, metadata={"description": "This trial in the API"})


class TrialPageSchema(Strict):
    items = req(fields.List, fields.Nested(TrialSummarySchema))
    next_cursor = req(fields.String, nullable=True)


class FactSchema(Strict):
    name = req(fields.String)
    label = req(fields.String)
    value = req(fields.Raw, nullable=True)
    source = req(fields.String, metadata={"description": "Where the value comes from"})


class SourceSchema(Strict):
    registry = req(fields.String)
    registry_id = req(fields.String)
    url = req(fields.String, nullable=True)
    registered_on = req(fields.Date, nullable=True)
    results_posted_on = req(fields.Date, nullable=True)
    last_updated = req(fields.Date, nullable=True)
    last_imported_at = req(When)


class VerdictSchema(Strict):
    duty = req(fields.String)
    ruleset = req(fields.String)
    title = req(fields.String)
    status = req(fields.String)
    status_label = req(fields.String)
    due = req(fields.Date, nullable=True)
    estimated = req(fields.Boolean)
    days_overdue = req(fields.Integer)
    days_remaining = req(fields.Integer, nullable=True)
    explanation = req(fields.String, metadata={"description": "Why, in plain English"})
    assumptions = req(fields.List, fields.String())
    missing_facts = req(fields.String, nullable=True)
    citation = req(fields.String, metadata={"description": "The regulation and guidance"})


class TrialSchema(TrialSummarySchema):
    facts = req(fields.List, fields.Nested(FactSchema))
    sources = req(fields.List, fields.Nested(SourceSchema))
    verdicts = req(fields.List, fields.Nested(VerdictSchema))


# --- obligations ------------------------------------------------------------------------------


class ObligationSchema(Strict):
    id = req(fields.Integer)
    trial_id = req(fields.Integer)
    trial_title = req(fields.String)
    duty = req(fields.String)
    ruleset = req(fields.String)
    title = req(fields.String)
    status = req(fields.String)
    status_label = req(fields.String)
    due = req(fields.Date, nullable=True)
    days_overdue = req(fields.Integer)
    explanation = req(fields.String)


class ObligationPageSchema(Strict):
    items = req(fields.List, fields.Nested(ObligationSchema))
    next_cursor = req(fields.String, nullable=True)


# --- certificates and reports ------------------------------------------------------------------


class CertificateSchema(Strict):
    id = req(fields.Integer)
    serial = req(fields.String)
    trial_id = req(fields.Integer)
    status = req(fields.String, metadata={"description": "queued, rendering, ready or failed"})
    compliant = req(fields.Boolean)
    as_of = req(fields.Date)
    requested_at = req(When)
    issued_at = req(When, nullable=True)
    revoked = req(fields.Boolean)
    superseded = req(fields.Boolean)
    sha256 = req(fields.String, nullable=True)
    verify_url = req(fields.String)
    download_url = req(fields.String, nullable=True)


class CertificatePageSchema(Strict):
    items = req(fields.List, fields.Nested(CertificateSchema))
    next_cursor = req(fields.String, nullable=True)


class ReportSchema(Strict):
    id = req(fields.String)
    organisation_id = req(fields.Integer, nullable=True)
    status = req(fields.String, metadata={"description": "queued, started, finished or failed"})
    requested_at = req(When)
    finished_at = req(When, nullable=True)
    pdf_url = req(fields.String, nullable=True)
    csv_url = req(fields.String, nullable=True)


class ReportListSchema(Strict):
    items = req(fields.List, fields.Nested(ReportSchema))


# --- audit --------------------------------------------------------------------------------------


class AuditEventSchema(Strict):
    id = req(fields.Integer)
    occurred_at = req(When)
    actor = req(fields.String)
    organisation_id = req(fields.Integer, nullable=True)
    action = req(fields.String)
    description = req(fields.String)
    object_type = req(fields.String)
    object_id = req(fields.String, nullable=True)
    before = req(fields.Dict, nullable=True)
    after = req(fields.Dict, nullable=True)
    hash = req(fields.String)


class AuditPageSchema(Strict):
    items = req(fields.List, fields.Nested(AuditEventSchema))
    next_cursor = req(fields.String, nullable=True)
