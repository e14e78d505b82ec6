"""Evidence a sponsor gives for the results duties: lay summary versions, results posted in each
registry (with a link as evidence), and how participants were offered the results (UK-PART).

Facts the rules read go through ``sponsor_facts.set_facts`` so the obligations are recomputed in
the same transaction: ``results_posted`` (per registry entry) and
``participant_summary_offered_on``. Files go to the content-addressed store with their row.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from portal.domain.summaries import readability
from portal.domain.summaries.extract import Extracted, ExtractionError, extract
from portal.extensions import db
from portal.models import (
    JargonTerm,
    ParticipantOffer,
    RegistryEntry,
    SummaryVersion,
    Trial,
    User,
)
from portal.services import ServiceError, review, sponsor_facts, transactional
from portal.services.audit import record
from portal.services.files import store_bytes
from portal.services.results import REGISTRY_HOSTS, hosts_for  # noqa: F401 (pages use them)
from portal.timeutil import today, utcnow

EDITOR_ROLES = ("sponsor", "sponsor_admin")
METHODS = {
    "letter": "Letter",
    "email": "Email",
    "website": "Website",
    "sites": "Through the trial sites",
}
AUDIENCES = {
    "participants": "Participants",
    "parents": "Parents",
    "legal_representatives": "Legal representatives",
}
VERSION_STATUS_LABELS = {
    "draft": "Draft",
    "submitted": "Waiting for review",
    "changes_requested": "Changes requested",
    "approved": "Approved",
    "withdrawn": "Replaced by a newer submission",
}
OFFER_STATUS_LABELS = {
    "recorded": "Recorded",
    "questioned": "Questioned by a reviewer",
    "accepted": "Accepted",
}


def _check_editor(user: User, trial: Trial) -> None:
    org = user.organisation
    if user.role not in EDITOR_ROLES or org is None or trial.owner_organisation_id != org.id:
        raise ServiceError("Only a sponsor of the organisation that owns this trial can do this.")


# --- jargon --------------------------------------------------------------------------------------


def jargon_terms() -> dict[str, str]:
    """The starter list plus the terms reviewers added: term -> plainer words."""
    terms = dict(readability.starter_jargon())
    for term, plain in db.session.execute(sa.select(JargonTerm.term, JargonTerm.plain)).all():
        terms[readability.jargon_key(term)] = plain
    return terms


@transactional
def add_jargon_term(user: User, term: str, plain: str) -> JargonTerm:
    """A reviewer extends the jargon list; every report shows it from then on."""
    key = readability.jargon_key(term or "")
    plain = (plain or "").strip()
    if len(key) < 2:
        raise ServiceError("Enter the word or phrase to flag.", field="term")
    if len(key) > 100:
        raise ServiceError("The term must be 100 characters or fewer.", field="term")
    if len(plain) > 200:
        raise ServiceError("The plainer words must be 200 characters or fewer.", field="plain")
    if key in jargon_terms():
        raise ServiceError(f"“{key}” is already on the list.", field="term")
    row = JargonTerm(term=key, plain=plain, added_by_id=user.id)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        raise ServiceError(f"“{key}” is already on the list.", field="term") from None
    record("jargon.added", "jargon_term", row.id, actor=user, after={"term": key, "plain": plain})
    return row


# --- lay summaries -------------------------------------------------------------------------------


def _extract(data: bytes, filename: str = "") -> Extracted:
    try:
        return extract(data, filename)
    except ExtractionError as exc:
        raise ServiceError(exc.message, field="file") from None


@transactional
def upload_summary(user: User, trial: Trial, data: bytes, filename: str = "") -> SummaryVersion:
    """A new version of the trial's lay summary: judged, extracted, scored and stored, or refused
    with nothing stored."""
    _check_editor(user, trial)
    extracted = _extract(data, filename)
    report = readability.analyse(extracted.text, extracted.headings, jargon_terms())
    report["kind"] = extracted.kind
    report["pages"] = extracted.pages
    # One upload at a time per trial, so version numbers never collide.
    db.session.execute(sa.select(Trial.id).where(Trial.id == trial.id).with_for_update())
    latest = db.session.execute(
        sa.select(sa.func.max(SummaryVersion.version)).where(SummaryVersion.trial_id == trial.id)
    ).scalar_one()
    stored = store_bytes(data, extracted.content_type, _safe_name(filename, extracted))
    version = SummaryVersion(
        trial_id=trial.id,
        version=(latest or 0) + 1,
        file_id=stored.id,
        extracted_text=extracted.text,
        word_count=report["scores"]["words"],
        readability=report,
        status="draft",
        uploaded_by_id=user.id,
        uploaded_at=utcnow(),
    )
    db.session.add(version)
    db.session.flush()
    record(
        "summary.uploaded",
        "trial",
        trial.id,
        actor=user,
        organisation_id=trial.owner_organisation_id,
        after={
            "summary_version": version.id,
            "version": version.version,
            "file_sha256": stored.sha256,
            "kind": extracted.kind,
            "words": version.word_count,
        },
    )
    return version


def _safe_name(filename: str, extracted: Extracted) -> str:
    """The uploaded name, kept for downloads, with the extension its content deserves."""
    from portal.domain.summaries.extract import EXTENSIONS

    stem = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0].strip()
    stem = "".join(c for c in stem if c.isprintable()) or "lay-summary"
    return f"{stem[:200]}.{EXTENSIONS[extracted.kind]}"


def version_for(trial: Trial, version_id: int) -> SummaryVersion | None:
    version = db.session.get(SummaryVersion, version_id)
    return version if version is not None and version.trial_id == trial.id else None


def versions_for(trial_id: int, *, light: bool = False) -> list[SummaryVersion]:
    """The trial's versions, newest first; ``light`` leaves out their (long) text."""
    query = (
        sa.select(SummaryVersion)
        .where(SummaryVersion.trial_id == trial_id)
        .order_by(SummaryVersion.version.desc())
    )
    if light:
        query = query.options(defer(SummaryVersion.extracted_text))
    return list(db.session.execute(query).scalars())


def report_for(version: SummaryVersion) -> dict[str, Any]:
    """The stored report, with jargon found by the list as it is now (reviewers extend it)."""
    report = dict(version.readability or {})
    report["jargon"] = readability.find_jargon(version.extracted_text, jargon_terms())
    return report


@transactional
def submit_summary(user: User, trial: Trial, version_id: int):
    """Send a draft version for review; an older version still waiting is replaced."""
    _check_editor(user, trial)
    version = db.session.execute(
        sa.select(SummaryVersion)
        .where(SummaryVersion.id == version_id, SummaryVersion.trial_id == trial.id)
        .with_for_update(of=SummaryVersion)
    ).scalar_one_or_none()
    if version is None:
        raise ServiceError("That version does not exist.")
    if version.status != "draft":
        raise ServiceError(
            f"Version {version.version} has already been sent for review. Upload a new version "
            "to answer the reviewer's comments."
        )
    for old in review._withdraw_waiting(trial.id, "summary", user):
        older = db.session.get(SummaryVersion, old.object_id)
        if older is not None and older.status == "submitted":
            older.status = "withdrawn"
    version.status = "submitted"
    version.submitted_at = utcnow()
    return review.create_submission(user, trial, "summary", version.id)


# --- results posted in each registry -------------------------------------------------------------


def check_evidence_url(registry_name: str, url: str) -> str:
    """The link, if it is a web address on the registry's own site; ServiceError otherwise."""
    url = (url or "").strip()
    hosts = hosts_for(registry_name)
    if not hosts:
        raise ServiceError(
            f"The portal cannot check results links for {registry_name} yet: only "
            "ClinicalTrials.gov, ISRCTN and the EU registers.",
            field="evidence_url",
        )
    if not url:
        raise ServiceError(
            f"Enter the link to the results on {registry_name}.", field="evidence_url"
        )
    if len(url) > 500 or any(c.isspace() or not c.isprintable() for c in url):
        raise ServiceError(
            "Enter a single web address of up to 500 characters.", field="evidence_url"
        )
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme not in ("https", "http") or not host:
        raise ServiceError(
            "Enter the full web address, starting with https://", field="evidence_url"
        )
    if parts.username or parts.password:
        raise ServiceError("The web address must not contain a user name.", field="evidence_url")
    if not any(host == h or host.endswith("." + h) for h in hosts):
        raise ServiceError(
            f"The link must be to the results on {registry_name} ({' or '.join(hosts)}), "
            f"not {host}.",
            field="evidence_url",
        )
    return url


def entry_for(trial: Trial, entry_id: int) -> RegistryEntry | None:
    entry = db.session.get(RegistryEntry, entry_id)
    return entry if entry is not None and entry.trial_id == trial.id else None


@transactional
def record_results_posted(
    user: User, trial: Trial, entry_id: int, posted_on: date | None, evidence_url: str
) -> list[str]:
    """The date results appeared in one registry entry, with a link there as evidence."""
    _check_editor(user, trial)
    entry = entry_for(trial, entry_id)
    if entry is None:
        raise ServiceError("That registry entry is not one of this trial's.")
    if entry.results_posted_on is not None:
        raise ServiceError(
            f"{entry.registry_name} already shows results posted on "
            f"{entry.results_posted_on:%-d %B %Y} (from the registry import).",
            field="posted_on",
        )
    if posted_on is None:
        raise ServiceError("Enter the date the results were posted.", field="posted_on")
    if posted_on > today():
        raise ServiceError(
            "The date results were posted must be today or in the past.", field="posted_on"
        )
    if entry.registered_on and posted_on < entry.registered_on:
        raise ServiceError(
            f"Results cannot be posted before the trial was registered on {entry.registry_name} "
            f"({entry.registered_on:%-d %B %Y}).",
            field="posted_on",
        )
    url = check_evidence_url(entry.registry_name, evidence_url)
    current = sponsor_facts.current_facts(trial.id).get("results_posted")
    posted = dict(current.value or {}) if current is not None else {}
    posted[entry.registry_id] = {"on": posted_on.isoformat(), "evidence_url": url}
    return sponsor_facts.set_facts(user, trial, {"results_posted": posted})


def results_by_entry(trial: Trial, facts: dict[str, Any] | None = None) -> list[Any]:
    """Each registry entry with where its results date comes from (import, sponsor, none):
    ``portal.services.results``, the one reader the verdicts' rule shares.

    ``facts``: the trial's current sponsor facts (SponsorFact rows by key), if already read."""
    from portal.services import results

    return results.for_trial(trial, facts)


# --- the participant offer (UK-PART) --------------------------------------------------------------


def approved_versions(trial_id: int) -> list[SummaryVersion]:
    return [v for v in versions_for(trial_id) if v.status == "approved"]


@transactional
def record_offer(
    user: User,
    trial: Trial,
    *,
    offered_on: date | None,
    method: str,
    audience: list[str],
    summary_version_id: int | None,
    data: bytes | None,
    filename: str = "",
    notes: str = "",
) -> ParticipantOffer:
    """Evidence that participants were offered the results: meets UK-PART and goes for review."""
    _check_editor(user, trial)
    if offered_on is None:
        raise ServiceError("Enter the date participants were offered the results.", "offered_on")
    if offered_on > today():
        raise ServiceError(
            "The date participants were offered the results must be today or in the past.",
            field="offered_on",
        )
    if method not in METHODS:
        raise ServiceError("Choose how the results were offered.", field="method")
    audience = [a for a in audience or [] if a in AUDIENCES]
    if not audience:
        raise ServiceError("Choose who was offered the results.", field="audience")
    notes = (notes or "").strip()
    if len(notes) > 2000:
        raise ServiceError("The notes must be 2,000 characters or fewer.", field="notes")
    if bool(summary_version_id) == bool(data):
        raise ServiceError(
            "Choose the approved summary that was sent, or upload the summary that was sent "
            "(one of the two).",
            field="summary_version",
        )
    file_id = None
    if summary_version_id:
        version = version_for(trial, summary_version_id)
        if version is None or version.status != "approved":
            raise ServiceError(
                "Choose one of this trial's approved summaries.", field="summary_version"
            )
    else:
        extracted = _extract(data or b"", filename)
        name = _safe_name(filename, extracted)
        file_id = store_bytes(data or b"", extracted.content_type, name).id
    offer = ParticipantOffer(
        trial_id=trial.id,
        offered_on=offered_on,
        method=method,
        audience=audience,
        summary_version_id=summary_version_id or None,
        file_id=file_id,
        notes=notes,
        status="recorded",
        recorded_by_id=user.id,
        recorded_at=utcnow(),
    )
    db.session.add(offer)
    db.session.flush()
    record(
        "participant_offer.recorded",
        "trial",
        trial.id,
        actor=user,
        organisation_id=trial.owner_organisation_id,
        after={
            "offer": offer.id,
            "offered_on": offered_on,
            "method": method,
            "audience": audience,
            "summary_version": summary_version_id,
            "file": file_id,
        },
    )
    # The queue orders by the duty's deadline as it stood when the evidence came in.
    review.create_submission(user, trial, "participant_offer", offer.id)
    # An offer a reviewer questioned meets nothing (portal.services.evidence).
    first = db.session.execute(
        sa.select(sa.func.min(ParticipantOffer.offered_on)).where(
            ParticipantOffer.trial_id == trial.id, ParticipantOffer.status != "questioned"
        )
    ).scalar_one()
    sponsor_facts.set_facts(user, trial, {"participant_summary_offered_on": first})
    return offer


def offers_for(trial_id: int) -> list[ParticipantOffer]:
    return list(
        db.session.execute(
            sa.select(ParticipantOffer)
            .where(ParticipantOffer.trial_id == trial_id)
            .order_by(ParticipantOffer.offered_on.desc(), ParticipantOffer.id.desc())
        ).scalars()
    )


def offer_for(trial: Trial, offer_id: int) -> ParticipantOffer | None:
    offer = db.session.get(ParticipantOffer, offer_id)
    return offer if offer is not None and offer.trial_id == trial.id else None
