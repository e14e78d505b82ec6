"""Compliance certificates: requested, issued by a worker, superseded, revoked, verified.

What a certificate says (its ``statement``) is fixed when it is requested, so a retry or a second
worker renders the same certificate. It states, as of its date: the trial, every obligation with
its due date, status and evidence, the overall verdict, the rule-set versions and parameters used
(RULES.md "What every verdict shows": a certificate prints the same), and who requested it.

Exactly one certificate per request: the row (and its serial) is created once, by the request;
``issue`` is a compare-and-set (``UPDATE ... WHERE status != 'ready'``) so a second execution of
the job (a worker presumed dead that was not) records nothing; and rendering is deterministic, so
both executions would have produced the same bytes and the same SHA-256 anyway.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app

from portal.access import SPONSOR_SIDE
from portal.domain.obligations.stored import trial_verdicts
from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Certificate,
    Obligation,
    Organisation,
    ParameterSet,
    Trial,
    TrialIdentifier,
    User,
)
from portal.services import ServiceError, fact_checks, pdf_jobs, transactional
from portal.services.audit import record
from portal.services.certificate_layout import describe, fact_label, plain
from portal.services.files import store_bytes
from portal.timeutil import today, utcnow

# Version 2 (issue 18): each fact of a duty's evidence keeps its key (the certificate names facts
# by label, from portal.certificates.layout), outstanding reasons name facts by label, and
# ``findings`` lists facts to check (printed only when it has items).
STATEMENT_VERSION = 2
OUTSTANDING = ("overdue", "data_needed")
STILL_OPEN = ("upcoming", "due_soon")
PENDING = ("queued", "rendering")
RULESET_ORDER = {"uk-2026": 0, "eu-ctr": 1, "us-fdaaa": 2}
STATUS_LABELS = {
    "not_applicable": "Not applicable",
    "data_needed": "Data needed",
    "upcoming": "Upcoming",
    "due_soon": "Due soon",
    "overdue": "Overdue",
    "met": "Met",
    "met_late": "Met late",
    "deferred": "Deferred",
    "waived": "Waived",
}
SERIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
MAX_REVOKE_REASON = 1000


def is_compliant(statuses: Any, findings: Any = ()) -> bool:
    """A certificate says compliant only when no duty is overdue or data_needed and no facts
    conflict (RULES.md "Facts that contradict each other": never "compliant" while facts
    conflict). ``findings``: ``portal.rules.Conflict``s or their JSON."""
    if any(status in OUTSTANDING for status in statuses):
        return False
    return not any(_kind(c) == "conflict" for c in findings)


def _kind(finding: Any) -> str:
    return finding.get("kind", "") if isinstance(finding, dict) else finding.kind


def new_serial() -> str:
    """``TTP-XXXXX-XXXXX-XXXXX-XXXXX``: 100 random bits, so serials cannot be guessed."""
    chars = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(20))
    return "TTP-" + "-".join(chars[i : i + 5] for i in range(0, 20, 5))


def verify_url(serial: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/verify/" + serial


def day_text(value: date | str | None) -> str:
    if value is None:
        return "not known"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.day} {value:%B %Y}"


# --- who may do what ---------------------------------------------------------------------------


def may_request(user: User, trial: Trial) -> bool:
    """Sponsor side of the owning organisation, reviewers and administrators."""
    if user.sees_all_organisations:
        return True
    org = user.organisation
    return (
        user.role in SPONSOR_SIDE
        and org is not None
        and org.approved
        and trial.owner_organisation_id == org.id
    )


def _scoped(query: sa.Select, user: User) -> sa.Select:
    if user.sees_all_organisations:
        return query
    org = user.organisation
    if org is None or not org.approved or user.role not in SPONSOR_SIDE:
        return query.where(sa.false())
    return query.where(Certificate.organisation_id == org.id)


def scope_certificates(query: sa.Select, user: User) -> sa.Select:
    """Restrict a select over Certificate to what ``user`` may see (the API's lists)."""
    return _scoped(query, user)


def certificate_for(user: User, certificate_id: int) -> Certificate:
    """The certificate if ``user`` may see it; 404 otherwise (ids do not leak)."""
    certificate = db.session.execute(
        _scoped(sa.select(Certificate).where(Certificate.id == certificate_id), user)
    ).scalar_one_or_none()
    if certificate is None:
        abort(404)
    return certificate


def certificates_of_trial(user: User, trial: Trial, limit: int = 5) -> list[Certificate]:
    return list(
        db.session.execute(
            _scoped(
                sa.select(Certificate)
                .where(Certificate.trial_id == trial.id)
                .order_by(Certificate.id.desc())
                .limit(limit),
                user,
            )
        ).scalars()
    )


# --- the statement ------------------------------------------------------------------------------


def _parameters(versions: set[int]) -> list[dict[str, Any]]:
    """The parameter values each verdict was computed with (version 0: the built-in defaults)."""
    from portal.rules import DEFAULT_PARAMS

    keys = (
        "due_soon_days",
        "deferral_months",
        "deferral_max_years",
        "lapse_warning_days",
        "old_rules_part_applies",
    )
    stored = {
        row.version: row.values
        for row in db.session.execute(
            sa.select(ParameterSet).where(ParameterSet.version.in_(versions - {0}))
        ).scalars()
    }
    out = []
    for version in sorted(versions):
        values = stored.get(version)
        if values is None:
            values = {
                key: getattr(DEFAULT_PARAMS, key) for key in keys if hasattr(DEFAULT_PARAMS, key)
            }
        out.append({"version": version, "values": dict(sorted(values.items()))})
    return out


def _evidence(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts a verdict rests on (``Obligation.inputs``), each with where it came from."""
    items = []
    for name, fact in (inputs or {}).items():
        if isinstance(fact, dict):
            value, source = fact.get("value"), fact.get("source")
        else:
            value, source = fact, None
        items.append(
            {
                "key": name,
                "fact": fact_label(name),
                "value": "Not known" if value in (None, "") else describe(name, value),
                "source": str(source) if source else "",
            }
        )
    return items


def _obligation_entry(ob: Obligation, as_of: date) -> dict[str, Any]:
    verdict = ob.verdict or {}
    status = ob.status
    note = ""
    # A verdict computed before today whose due date has since passed unmet: not compliant.
    if status in STILL_OPEN and ob.due is not None and ob.due < as_of:
        status = "overdue"
        note = f"due date passed since the verdict of {day_text(ob.as_of)}"
    withheld = verdict.get("evidence_withheld")  # portal.services.evidence
    if withheld:
        reason = f"not counted as done: {str(withheld).rstrip('.')}"
        note = f"{note}; {reason}" if note else reason
    return {
        "duty": ob.duty,
        "title": verdict.get("title") or ob.duty,
        "ruleset": ob.ruleset,
        "ruleset_version": verdict.get("ruleset_version") or "",
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "note": note,
        "due": ob.due.isoformat() if ob.due else None,
        "estimated": bool(verdict.get("estimated")),
        "days_overdue": _days_overdue(ob, status, as_of),
        "met_on": verdict.get("met_on"),
        "deferred_until": verdict.get("deferred_until"),
        "missing": [plain(m) for m in verdict.get("missing") or []],
        "explanation": verdict.get("explanation") or "",
        "evidence": _evidence(ob.inputs),
        "assumptions": [str(a) for a in verdict.get("assumptions") or []],
        "source": verdict.get("source") or "",
        "params_version": ob.params_version,
        "evaluated_as_of": ob.as_of.isoformat() if ob.as_of else None,
    }


def _days_overdue(ob: Obligation, status: str, as_of: date) -> int:
    """Days overdue on the certificate's date; ``status`` is the certificate's (a duty still
    stored as open counts as overdue once its due date has passed)."""
    if status != "overdue" or ob.due is None:
        return 0
    return max(0, (as_of - ob.due).days)


def _outstanding_reason(entry: dict[str, Any]) -> str:
    if entry["status"] == "data_needed":
        missing = ", ".join(entry["missing"]) or "more facts"
        return f"data needed: {missing}"
    days = entry["days_overdue"]
    text = f"overdue since {day_text(entry['due'])}" if entry["due"] else "overdue"
    if days:
        text += f" ({days} day{'s' if days != 1 else ''})"
    return text + (f"; {entry['note']}" if entry["note"] else "")


def _identifier(identifier: TrialIdentifier) -> dict[str, str]:
    kind, value = identifier.kind.upper(), identifier.value
    text = value if value.upper().startswith(kind) else f"{kind} {value}"
    return {"kind": kind, "value": value, "text": text}


def build_statement(
    trial: Trial, user: User, *, serial: str, as_of: date, requested_at: str
) -> dict[str, Any]:
    """Everything the certificate will say, as JSON, from the rows as they are now."""
    obligations = sorted(  # every verdict, not applicable ones included (obligations.stored)
        trial_verdicts(trial.id),
        key=lambda o: (RULESET_ORDER.get(o.ruleset, 9), o.duty, o.id or 0),
    )
    from portal.services import results

    # Results posted as the verdicts read them (the registry's date, else the sponsor's).
    entries = sorted(
        results.views(trial), key=lambda e: (e.registry_name or "", e.registry_id or "")
    )
    identifiers = db.session.execute(
        sa.select(TrialIdentifier)
        .where(TrialIdentifier.trial_id == trial.id)
        .order_by(TrialIdentifier.kind, TrialIdentifier.value)
    ).scalars()
    owner = (
        db.session.get(Organisation, trial.owner_organisation_id)
        if trial.owner_organisation_id
        else None
    )
    items = [_obligation_entry(ob, as_of) for ob in obligations]
    outstanding = [
        {
            "duty": e["duty"],
            "title": e["title"],
            "status": e["status"],
            "reason": _outstanding_reason(e),
        }
        for e in items
        if e["status"] in OUTSTANDING
    ]
    if not items:
        outstanding.append(
            {
                "duty": "—",
                "title": "The trial's duties",
                "status": "data_needed",
                "reason": "data needed: the duties have not been worked out "
                "(enter the trial's facts)",
            }
        )
    # RULES.md "Facts that contradict each other": listed on certificates; never "compliant"
    # while facts conflict.
    findings = fact_checks.for_trial(trial.id, as_of) if items else []
    if not is_compliant([e["status"] for e in items], findings) and not outstanding:
        outstanding.append(
            {
                "duty": "—",
                "title": "The trial's facts",
                "status": "data_needed",
                "reason": "facts to check: some facts contradict each other",
            }
        )
    compliant = not outstanding
    verdict_text = (
        f"compliant as of {day_text(as_of)}"
        if compliant
        else f"not compliant: {len(outstanding)} outstanding"
    )
    rulesets = sorted(
        {(e["ruleset"], e["ruleset_version"]) for e in items},
        key=lambda r: (RULESET_ORDER.get(r[0], 9), r[0], r[1]),
    )
    versions = {e["params_version"] or 0 for e in items}
    requester_org = user.organisation
    return {
        "version": STATEMENT_VERSION,
        "serial": serial,
        "as_of": as_of.isoformat(),
        "requested_at": requested_at,
        "verify_url": verify_url(serial),
        "trial": {
            "id": trial.id,
            "title": trial.title or "Untitled trial",
            "sponsor": trial.sponsor_name or "",
            "owner": owner.name if owner else "",
            "identifiers": [_identifier(i) for i in identifiers],
            "registries": [
                {
                    "registry": e.registry_name,
                    "id": e.registry_id,
                    "url": e.url or "",
                    "registered_on": e.registered_on.isoformat() if e.registered_on else None,
                    "results_posted_on": e.results_posted_on.isoformat()
                    if e.results_posted_on
                    else None,
                    "last_updated": e.last_updated.isoformat() if e.last_updated else None,
                }
                for e in entries
            ],
        },
        "obligations": items,
        # Findings about the trial's facts that someone should check: [{"label", "text"}]. The
        # certificate prints a "Facts to check" section only when there are any.
        "verdict": {"compliant": compliant, "text": verdict_text, "outstanding": outstanding},
        "facts_to_check": fact_checks.shown(findings),
        "rulesets": [{"ruleset": r, "version": v} for r, v in rulesets],
        "parameters": _parameters(versions) if items else [],
        "requested_by": {
            "name": user.full_name or user.email,
            "role": user.role or "",
            "organisation": requester_org.name if requester_org else "",
        },
    }


# --- requesting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateRequest:
    certificate: Certificate
    reused: bool


@transactional
def request_certificate(user: User, trial: Trial) -> CertificateRequest:
    """Create the certificate row (serial, statement) and its job; reuse one still pending."""
    if not may_request(user, trial):
        raise ServiceError(
            "Only the organisation that owns this trial can ask for its certificate."
        )
    # One request at a time per trial: lock the trial row while checking for a pending one.
    db.session.execute(sa.select(Trial.id).where(Trial.id == trial.id).with_for_update()).all()
    pending = db.session.execute(
        sa.select(Certificate)
        .where(Certificate.trial_id == trial.id, Certificate.status.in_(PENDING))
        .where(
            Certificate.organisation_id.is_(None)
            if trial.owner_organisation_id is None
            else Certificate.organisation_id == trial.owner_organisation_id
        )
        .order_by(Certificate.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if pending is not None:
        return CertificateRequest(pending, reused=True)

    now = utcnow()
    as_of = today()
    serial = new_serial()
    statement = build_statement(
        trial, user, serial=serial, as_of=as_of, requested_at=now.isoformat(timespec="seconds")
    )
    job = pdf_jobs.create_job(pdf_jobs.KIND_CERTIFICATE, {}, user, trial.owner_organisation_id)
    certificate = Certificate(
        serial=serial,
        trial_id=trial.id,
        organisation_id=trial.owner_organisation_id,
        requested_by_id=user.id,
        job_id=job.id,
        as_of=as_of,
        status="queued",
        compliant=statement["verdict"]["compliant"],
        statement=statement,
        requested_at=now,
    )
    db.session.add(certificate)
    db.session.flush()
    job.params = {**(job.params or {}), "certificate_id": certificate.id}
    record(
        "certificate.requested",
        "certificate",
        certificate.id,
        actor=user,
        organisation_id=certificate.organisation_id,
        after={
            "serial": serial,
            "trial_id": trial.id,
            "as_of": as_of,
            "verdict": statement["verdict"]["text"],
            "job": job.id,
        },
    )
    pdf_jobs.dispatch_after_commit(job.id)
    return CertificateRequest(certificate, reused=False)


@transactional
def retry(user: User, certificate: Certificate) -> None:
    """Render a failed certificate again (same serial, same statement)."""
    if certificate.status != "failed" or certificate.job_id is None:
        raise ServiceError("Only a certificate that failed can be tried again.")
    job = db.session.get(BackgroundJob, certificate.job_id)
    pdf_jobs.retry(user, job)


# --- issuing (the worker) -------------------------------------------------------------------


@transactional
def issue(certificate_id: int, pdf: bytes) -> bool:
    """Store the PDF and mark the certificate ready, once. False if it was already issued."""
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None:
        return False
    if certificate.job_id is not None:  # lock order everywhere: job row, certificate, audit head
        db.session.execute(
            sa.select(BackgroundJob.id)
            .where(BackgroundJob.id == certificate.job_id)
            .with_for_update()
        ).all()
    stored = store_bytes(pdf, "application/pdf", f"certificate-{certificate.serial}.pdf")
    issued_at = utcnow()
    changed = db.session.execute(
        sa.update(Certificate)
        .where(Certificate.id == certificate_id, Certificate.status != "ready")
        .values(status="ready", file_id=stored.id, sha256=stored.sha256, issued_at=issued_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        return False  # another execution issued it first; its record stands
    db.session.refresh(certificate)
    _supersede(certificate)
    job = db.session.get(BackgroundJob, certificate.job_id) if certificate.job_id else None
    if job is not None:
        pdf_jobs.finish(
            job,
            {"sha256": stored.sha256, "file_id": stored.id, "serial": certificate.serial},
            "Certificate issued",
        )
    else:  # pragma: no cover - every certificate is made by a job
        record("certificate.issued", "certificate", certificate.id, after={"sha256": stored.sha256})
    return True


def _supersede(certificate: Certificate) -> None:
    """The newest issued certificate of a trial is current; it supersedes the older ones."""
    newer = db.session.execute(
        sa.select(sa.func.min(Certificate.id)).where(
            Certificate.trial_id == certificate.trial_id,
            Certificate.id > certificate.id,
            Certificate.status == "ready",
        )
    ).scalar_one_or_none()
    if newer is not None:  # a later request was issued first: this one is already superseded
        certificate.superseded_by_id = newer
        record(
            "certificate.superseded",
            "certificate",
            certificate.id,
            organisation_id=certificate.organisation_id,
            after={"superseded_by": newer},
        )
        return
    older = db.session.execute(
        sa.select(Certificate).where(
            Certificate.trial_id == certificate.trial_id,
            Certificate.id < certificate.id,
            Certificate.status == "ready",
            sa.or_(
                Certificate.superseded_by_id.is_(None),
                Certificate.superseded_by_id < certificate.id,
            ),
        )
    ).scalars()
    for old in older:
        was = old.superseded_by_id
        old.superseded_by_id = certificate.id
        record(
            "certificate.superseded",
            "certificate",
            old.id,
            organisation_id=old.organisation_id,
            before={"superseded_by": was},
            after={"superseded_by": certificate.id, "serial": certificate.serial},
        )


# --- revoking ---------------------------------------------------------------------------------


@transactional
def revoke(user: User, certificate: Certificate, reason: str) -> None:
    """A reviewer or administrator withdraws an issued certificate, with a reason (audited)."""
    if not user.sees_all_organisations:
        raise ServiceError("Only a reviewer or an administrator can revoke a certificate.")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Enter the reason for revoking the certificate", field="reason")
    if len(reason) > MAX_REVOKE_REASON:
        raise ServiceError(
            f"The reason must be {MAX_REVOKE_REASON} characters or fewer", field="reason"
        )
    if certificate.status != "ready":
        raise ServiceError("Only an issued certificate can be revoked.", field="reason")
    if certificate.revoked_at is not None:
        raise ServiceError("This certificate has already been revoked.", field="reason")
    certificate.revoked_at = utcnow()
    certificate.revoked_reason = reason
    record(
        "certificate.revoked",
        "certificate",
        certificate.id,
        actor=user,
        organisation_id=certificate.organisation_id,
        before={"revoked": False},
        after={"revoked": True, "reason": reason, "serial": certificate.serial},
    )


# --- verifying (public) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    certificate: Certificate
    state: str  # current / superseded / revoked
    newer_serial: str | None


def verification(serial: str) -> Verification | None:
    """What the public verify page shows: only issued certificates exist there."""
    if not serial or len(serial) > 40:
        return None
    certificate = db.session.execute(
        sa.select(Certificate).where(Certificate.serial == serial.strip().upper())
    ).scalar_one_or_none()
    if certificate is None or certificate.status != "ready":
        return None
    if certificate.revoked_at is not None:
        return Verification(certificate, "revoked", None)
    if certificate.superseded_by_id is not None:
        newer = db.session.get(Certificate, certificate.superseded_by_id)
        return Verification(certificate, "superseded", newer.serial if newer else None)
    return Verification(certificate, "current", None)


def matches(certificate: Certificate, data: bytes) -> bool:
    """Is ``data`` exactly the PDF that was issued?"""
    return certificate.sha256 is not None and secrets.compare_digest(
        hashlib.sha256(data).hexdigest(), certificate.sha256
    )
