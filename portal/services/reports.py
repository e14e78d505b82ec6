"""Portfolio reports: one organisation's compliance as a PDF (summary, trend, per trial) and CSV.

A compliance officer asks for their organisation's report, a reviewer or administrator for any
organisation's. The request only records a job; ``workers.pdf.render_report`` reads the portfolio
with a handful of queries (``gather``), with the trend of the last 24 months worked out from the
verdicts (portal/domain/obligations/trend.py, drawn by components/_trend.html as inline SVG: no
JavaScript, no plotting library), renders the PDF and stores both files (``finish``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import abort

from portal.domain.obligations import stored
from portal.domain.obligations.trend import MonthPoint, as_counters, monthly_trend
from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Obligation,
    ObligationInputs,
    Organisation,
    RegistryEntry,
    Trial,
    User,
)
from portal.plain import RULESET_LABELS as PLAIN_RULESET_LABELS
from portal.rules.duties import DUTIES
from portal.rules.model import NOT_APPLICABLE
from portal.services import ServiceError, fact_checks, pdf_jobs, transactional
from portal.services.audit import record
from portal.services.certificate_layout import _finding as finding_row
from portal.services.certificates import STATUS_LABELS, day_text
from portal.services.files import store_bytes
from portal.timeutil import today

REPORT_ROLES = ("compliance_officer", "reviewer", "admin")
STATUS_ORDER = (
    "overdue",
    "data_needed",
    "due_soon",
    "upcoming",
    "met",
    "met_late",
    "deferred",
    "waived",
    "not_applicable",
)
OPEN_STILL = ("upcoming", "due_soon")
# The rule sets by the plain names the trial page uses (portal.plain), in the report's order.
RULESET_LABELS = PLAIN_RULESET_LABELS
CHUNK = 900  # ids per IN (...) query
PART_ROWS = 400  # table rows per separately laid-out part of the PDF (about 12 pages)
SUMMARY_ORDER = ("overdue", "data_needed", "due_soon", "upcoming", "deferred", "waived")
SUMMARY_WORDS = {
    "overdue": "overdue",
    "data_needed": "data needed",
    "due_soon": "due soon",
    "upcoming": "upcoming",
    "deferred": "deferred",
    "waived": "waived",
}


# --- who may see what ---------------------------------------------------------------------------


def organisations_for(user: User) -> list[Organisation]:
    """The organisations ``user`` may report on."""
    if user.sees_all_organisations:
        return list(
            db.session.execute(
                sa.select(Organisation)
                .where(Organisation.status == "approved")
                .order_by(Organisation.name)
            ).scalars()
        )
    org = user.organisation
    return [org] if org is not None and org.approved and user.role in REPORT_ROLES else []


def _scoped(query: sa.Select, user: User) -> sa.Select:
    query = query.where(BackgroundJob.kind == pdf_jobs.KIND_REPORT)
    if user.sees_all_organisations:
        return query
    org = user.organisation
    if org is None or not org.approved or user.role not in REPORT_ROLES:
        return query.where(sa.false())
    return query.where(BackgroundJob.organisation_id == org.id)


def report_for(user: User, job_id: str) -> BackgroundJob:
    """The report job if ``user`` may see it; 404 otherwise."""
    job = db.session.execute(
        _scoped(sa.select(BackgroundJob).where(BackgroundJob.id == job_id[:36]), user)
    ).scalar_one_or_none()
    if job is None:
        abort(404)
    return job


def recent_reports(user: User, limit: int = 10) -> list[tuple[BackgroundJob, str]]:
    rows = db.session.execute(
        _scoped(
            sa.select(BackgroundJob, Organisation.name)
            .join(Organisation, Organisation.id == BackgroundJob.organisation_id)
            .order_by(BackgroundJob.created_at.desc())
            .limit(limit),
            user,
        )
    ).all()
    return [(job, name) for job, name in rows]


# --- requesting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRequest:
    job: BackgroundJob
    reused: bool


@transactional
def request_report(user: User, organisation_id: int) -> ReportRequest:
    """Record a report job for an organisation (or reuse the one still pending)."""
    allowed = {org.id for org in organisations_for(user)}
    if organisation_id not in allowed:
        raise ServiceError("Choose an organisation you can report on", field="organisation")
    pending = db.session.execute(
        sa.select(BackgroundJob)
        .where(
            BackgroundJob.kind == pdf_jobs.KIND_REPORT,
            BackgroundJob.organisation_id == organisation_id,
            BackgroundJob.status.in_(pdf_jobs.OPEN),
        )
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if pending is not None:
        return ReportRequest(pending, reused=True)
    as_of = today()
    job = pdf_jobs.create_job(
        pdf_jobs.KIND_REPORT,
        {"organisation_id": organisation_id, "as_of": as_of.isoformat()},
        user,
        organisation_id,
    )
    record(
        "report.requested",
        "report",
        job.id,
        actor=user,
        organisation_id=organisation_id,
        after={"as_of": as_of, "job": job.id},
    )
    pdf_jobs.dispatch_after_commit(job.id)
    return ReportRequest(job, reused=False)


@transactional
def retry(user: User, job: BackgroundJob) -> None:
    if job.status != "failed":
        raise ServiceError("Only a report that failed can be tried again.")
    pdf_jobs.retry(user, job)


# --- the data ----------------------------------------------------------------------------------


@dataclass
class ObligationRow:
    trial_id: int
    duty: str
    ruleset: str
    status: str
    due: date | None
    days_overdue: int
    met_on: str | None
    deferred_until: str | None


@dataclass
class TrialRow:
    id: int
    title: str
    sponsor: str
    registries: str
    counts: Counter = field(default_factory=Counter)
    next_duty: str = ""
    next_status: str = ""
    next_due: date | None = None
    most_overdue: int = 0
    # Facts to check (RULES.md "Facts that contradict each other"), as certificates print them:
    # {"label": "Conflict" or "Warning", "text": what was found, the duties, each fact and source}.
    checks: list[dict[str, str]] = field(default_factory=list)

    @property
    def conflicts(self) -> int:
        return sum(1 for c in self.checks if c["label"] == "Conflict")

    @property
    def checks_summary(self) -> str:
        """``1 conflict · 1 warning``: the facts to check, in words."""
        conflicts, warnings = self.conflicts, len(self.checks) - self.conflicts
        parts = []
        if conflicts:
            parts.append(f"{conflicts} conflict{'s' if conflicts != 1 else ''}")
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        return " · ".join(parts)

    @property
    def met(self) -> int:
        return self.counts["met"] + self.counts["met_late"]

    @property
    def summary(self) -> str:
        """``1 overdue · 2 due soon · 3 met``: the duties by status, in words (no colour)."""
        parts = [
            f"{self.counts[status]} {SUMMARY_WORDS[status]}"
            for status in SUMMARY_ORDER
            if self.counts[status]
        ]
        if self.met:
            parts.append(f"{self.met} met")
        if self.counts[NOT_APPLICABLE]:  # worked out too: the summary counts them
            parts.append(f"{self.counts[NOT_APPLICABLE]} not applicable")
        return " · ".join(parts) or "no duties worked out yet"


@dataclass
class ReportData:
    organisation_id: int
    organisation: str
    as_of: date
    trials: list[TrialRow]
    obligations: list[ObligationRow]
    by_ruleset: dict[str, Counter]
    totals: Counter
    overdue: list[tuple[ObligationRow, TrialRow]]
    trend: list[tuple[date, Counter]]  # the month points as (day, counts by status)
    months: list[MonthPoint] = field(default_factory=list)  # portal/domain/obligations/trend.py

    @property
    def rulesets(self) -> list[str]:
        order = list(RULESET_LABELS)
        return sorted(self.by_ruleset, key=lambda r: (order.index(r) if r in order else 9, r))

    @property
    def statuses(self) -> list[str]:
        return [s for s in STATUS_ORDER if self.totals.get(s)]

    @property
    def to_check(self) -> list[TrialRow]:
        """The trials with facts to check, those with conflicts first, in trial-table order."""
        return sorted((t for t in self.trials if t.checks), key=lambda t: -t.conflicts)


def as_of_from(params: dict[str, Any]) -> date:
    text = params.get("as_of")
    return date.fromisoformat(text) if text else today()


def _chunks(ids: list[int]):
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def gather(organisation_id: int, as_of: date) -> ReportData:
    """Read one organisation's portfolio: trials, registry ids, obligations, status history."""
    org = db.session.get(Organisation, organisation_id)
    trials: dict[int, TrialRow] = {}
    for row in db.session.execute(
        sa.select(Trial.id, Trial.title, Trial.sponsor_name)
        .where(Trial.owner_organisation_id == organisation_id)
        .order_by(Trial.id)
    ):
        trials[row.id] = TrialRow(row.id, row.title or "Untitled trial", row.sponsor_name or "", "")
    ids = list(trials)
    registries: dict[int, list[str]] = defaultdict(list)
    obligations: list[ObligationRow] = []
    met_on = Obligation.verdict["met_on"].as_string()
    deferred = Obligation.verdict["deferred_until"].as_string()
    for chunk in _chunks(ids):
        for row in db.session.execute(
            sa.select(
                RegistryEntry.trial_id, RegistryEntry.registry_name, RegistryEntry.registry_id
            )
            .where(RegistryEntry.trial_id.in_(chunk))
            .order_by(RegistryEntry.trial_id, RegistryEntry.registry_name)
        ):
            registries[row.trial_id].append(row.registry_id)  # NCT..., ISRCTN...: self-describing
        # The facts to check, worked out in full for the trials whose verdicts found any (the
        # stored facts list them: portal.services.obligations.facts_document), as of the report's
        # date, as a certificate of the trial would list them.
        for trial_id in db.session.execute(
            sa.select(ObligationInputs.trial_id)
            .where(ObligationInputs.trial_id.in_(chunk), fact_checks.has_checks_of_inputs())
            .order_by(ObligationInputs.trial_id)
        ).scalars():
            trials[trial_id].checks = [
                finding_row(c) for c in fact_checks.shown(fact_checks.for_trial(trial_id, as_of))
            ]
        # One statement for the rows and the not-applicable verdicts stored once per trial
        # (portal.domain.obligations.stored): one snapshot, so a duty that moves between the two
        # while the report is read is counted once, never missed.
        rows_and_documents = sa.union_all(
            sa.select(
                Obligation.trial_id,
                Obligation.duty,
                Obligation.ruleset,
                Obligation.status,
                Obligation.due,
                met_on.label("met_on"),
                deferred.label("deferred_until"),
                sa.null().label("not_applicable"),
            ).where(Obligation.trial_id.in_(chunk)),
            sa.select(
                ObligationInputs.trial_id,
                sa.null(),
                sa.null(),
                sa.null(),
                sa.null(),
                sa.null(),
                sa.null(),
                sa.cast(ObligationInputs.not_applicable, sa.Text),
            ).where(
                ObligationInputs.trial_id.in_(chunk), ObligationInputs.not_applicable.is_not(None)
            ),
        )
        chunk_rows: list[ObligationRow] = []
        documents: list[tuple[int, str]] = []
        for row in db.session.execute(rows_and_documents):
            if row.not_applicable is not None:
                documents.append((row.trial_id, row.not_applicable))
                continue
            status, days = row.status, 0
            if status in OPEN_STILL and row.due is not None and row.due < as_of:
                status = "overdue"  # the due date passed since the verdict was computed
            if status == "overdue" and row.due is not None:
                days = max(0, (as_of - row.due).days)  # counted on the report's date
            chunk_rows.append(
                ObligationRow(
                    row.trial_id,
                    row.duty,
                    row.ruleset,
                    status,
                    row.due,
                    days if status == "overdue" else 0,
                    row.met_on,
                    row.deferred_until,
                )
            )
        have = {(row.trial_id, row.duty) for row in chunk_rows}
        for trial_id, doc in documents:
            for duty in stored.parse(doc):
                if (trial_id, duty) not in have:
                    ruleset = DUTIES[duty][0] if duty in DUTIES else ""
                    chunk_rows.append(
                        ObligationRow(trial_id, duty, ruleset, NOT_APPLICABLE, None, 0, None, None)
                    )
        chunk_rows.sort(key=lambda r: (r.trial_id, r.duty))
        obligations.extend(chunk_rows)

    by_ruleset: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    overdue = []
    for ob in obligations:
        trial = trials[ob.trial_id]
        trial.counts[ob.status] += 1
        by_ruleset[ob.ruleset][ob.status] += 1
        totals[ob.status] += 1
        if ob.status == "overdue":
            overdue.append((ob, trial))
            trial.most_overdue = max(trial.most_overdue, ob.days_overdue)
        if ob.status in ("overdue", "due_soon", "upcoming", "data_needed") and ob.due is not None:
            if trial.next_due is None or ob.due < trial.next_due:
                trial.next_due, trial.next_duty, trial.next_status = ob.due, ob.duty, ob.status
    for trial_id, names in registries.items():
        trials[trial_id].registries = ", ".join(names)
    overdue.sort(key=lambda pair: (-pair[0].days_overdue, pair[1].title, pair[0].duty))
    ordered = sorted(
        trials.values(),
        key=lambda t: (
            -t.counts["overdue"],
            -t.most_overdue,
            -t.counts["data_needed"],
            t.title.lower(),
            t.id,
        ),
    )
    months = monthly_trend(organisation_id, as_of)  # from the verdicts: a trend from day one
    return ReportData(
        organisation_id=organisation_id,
        organisation=org.name if org else "",
        as_of=as_of,
        trials=ordered,
        obligations=obligations,
        by_ruleset=dict(by_ruleset),
        totals=totals,
        overdue=overdue,
        trend=as_counters(months),
        months=months,
    )


@dataclass(frozen=True)
class Part:
    """One separately laid-out part of the report PDF."""

    kind: str  # summary / overdue / checks / chart / trials
    rows: list[Any]
    start: int = 0  # index of the first row in its whole list


def report_parts(data: ReportData, rows: int | None = None) -> list[Part]:
    """The summary with the first overdue duties, the rest of them, the chart, the trials."""
    rows = rows or PART_ROWS
    parts = [Part("summary", data.overdue[:rows])]
    parts += [
        Part("overdue", data.overdue[i : i + rows], i) for i in range(rows, len(data.overdue), rows)
    ]
    to_check = data.to_check
    parts += [Part("checks", to_check[i : i + rows], i) for i in range(0, len(to_check), rows)]
    parts.append(Part("chart", []))
    parts += [
        Part("trials", data.trials[i : i + rows], i) for i in range(0, len(data.trials), rows)
    ]
    if not data.trials:
        parts.append(Part("trials", []))
    return parts


# --- the files ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "organisation",
    "as_of",
    "trial_id",
    "title",
    "sponsor",
    "registries",
    "duty",
    "ruleset",
    "status",
    "due",
    "days_overdue",
    "met_on",
    "deferred_until",
    "facts_to_check",
)


def _csv_safe(value: str) -> str:
    """Stop spreadsheet formula injection from registry and sponsor text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(data: ReportData) -> bytes:
    """One row per obligation (trials without any: one row with empty duty columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    by_trial: dict[int, list[ObligationRow]] = defaultdict(list)
    for ob in data.obligations:
        by_trial[ob.trial_id].append(ob)
    org = _csv_safe(data.organisation)
    for trial in data.trials:
        head = [
            org,
            data.as_of.isoformat(),
            trial.id,
            _csv_safe(trial.title),
            _csv_safe(trial.sponsor),
            _csv_safe(trial.registries),
        ]
        # The trial's facts to check, on each of its rows: "Conflict: ... | Warning: ...".
        checks = _csv_safe(" | ".join(f"{c['label']}: {c['text']}" for c in trial.checks))
        rows = by_trial.get(trial.id) or [None]
        for ob in rows:
            if ob is None:
                writer.writerow([*head, "", "", "", "", "", "", "", checks])
                continue
            writer.writerow(
                [
                    *head,
                    ob.duty,
                    ob.ruleset,
                    ob.status,
                    ob.due.isoformat() if ob.due else "",
                    ob.days_overdue or "",
                    ob.met_on or "",
                    ob.deferred_until or "",
                    checks,
                ]
            )
    return buffer.getvalue().encode("utf-8-sig")


@transactional
def finish(job_id: str, data: ReportData, pdf: bytes, csv_bytes: bytes) -> bool:
    """Store both files and mark the job finished (once)."""
    job = db.session.execute(
        sa.select(BackgroundJob).where(BackgroundJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None or job.status != "started":
        return False
    stem = f"portfolio-{data.as_of.isoformat()}-{job_id[:8]}"
    pdf_file = store_bytes(pdf, "application/pdf", stem + ".pdf")
    csv_file = store_bytes(csv_bytes, "text/csv", stem + ".csv")
    pdf_jobs.finish(
        job,
        {
            "pdf_file_id": pdf_file.id,
            "pdf_sha256": pdf_file.sha256,
            "csv_file_id": csv_file.id,
            "trials": len(data.trials),
            "obligations": len(data.obligations),
            "overdue": len(data.overdue),
            "facts_to_check": len(data.to_check),
            "as_of": data.as_of.isoformat(),
        },
        f"Report ready: {len(data.trials):,} trials, {len(data.overdue):,} overdue duties",
    )
    return True


def labels() -> dict[str, str]:
    """The words the report prints for statuses, rule sets ("ruleset:uk-2026") and duties
    ("duty:UK-RES": the duty's plain title, as the certificate prints it)."""
    return {
        **STATUS_LABELS,
        **{f"ruleset:{k}": v for k, v in RULESET_LABELS.items()},
        **{f"duty:{k}": v[1] for k, v in DUTIES.items()},
    }


__all__ = ["REPORT_ROLES", "ReportData", "day_text", "gather", "request_report", "to_csv"]
