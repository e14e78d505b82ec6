"""Demo data for a local run: one organisation, one user for each role, and real registry
records with a few trials owned by the demo organisation and facts entered for them.
Idempotent: running it twice adds nothing.

The records come from the first of: $REGISTRY_SAMPLES, the developer corpus beside the
repository (``../shared/data/registry-samples``), and the small MIT-licensed set shipped with
the package (``portal/data/demo-records``, see its SOURCES.md), so a fresh clone has trials."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Claim, Membership, Organisation, Trial, User
from portal.services import transactional
from portal.services.audit import record
from portal.timeutil import utcnow

DEMO_PASSWORD = "demo-password"  # noqa: S105  (local demo accounts only, printed by `make run`)

DEMO_ORG = {
    "name": "Demo University Hospitals NHS Trust",
    "email_domains": ["demo-trust.example"],
    "sponsor_names": ["Demo University Hospitals NHS Trust"],
}
DEMO_USERS = {
    "sponsor": ("sponsor@demo-trust.example", "Sam Sponsor", "sponsor"),
    "sponsor_admin": ("admin@demo-trust.example", "Alex Admin", "sponsor_admin"),
    "compliance_officer": ("officer@demo-trust.example", "Casey Officer", "compliance_officer"),
    "reviewer": ("reviewer@hra.example", "Robin Reviewer", None),
    "admin": ("admin@portal.example", "Ada Administrator", None),
}


def _user(email: str, name: str) -> User:
    user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(
            email=email,
            full_name=name,
            password_hash=generate_password_hash(DEMO_PASSWORD),
            email_confirmed_at=utcnow(),
        )
        db.session.add(user)
        db.session.flush()
        record("demo.user_created", "user", user.id, after={"email": email})
    return user


@transactional
def load_demo() -> dict[str, str]:
    """Create what is missing and return role -> email."""
    org = db.session.execute(
        sa.select(Organisation).where(Organisation.name == DEMO_ORG["name"])
    ).scalar_one_or_none()
    if org is None:
        org = Organisation(**DEMO_ORG, status="approved", decided_at=utcnow())
        db.session.add(org)
        db.session.flush()
        record("demo.organisation_created", "organisation", org.id, organisation_id=org.id)
    for role, (email, name, org_role) in DEMO_USERS.items():
        user = _user(email, name)
        if org_role and user.membership is None:
            db.session.add(Membership(user_id=user.id, organisation_id=org.id, role=org_role))
        if not org_role and user.system_role != role:
            user.system_role = role
    return {role: spec[0] for role, spec in DEMO_USERS.items()}


# Real records of the developer corpus, small enough to import in seconds (see
# ../shared/data/registry-samples/SOURCES.md).
DEMO_SAMPLE_FOLDERS = (
    "ctgov-v2-json/ctrdata-demo",
    "ctgov-v2-json/json-conversion-ctg-studies",
    "ctgov-classic-xml/aact-fixtures",
    "isrctn/ctrdata-demo-json",
    "eu/euctr-ctrdata-demo-json",
)
# The package's own set: every folder of it is imported.
PACKAGE_RECORDS = Path(__file__).resolve().parent / "data" / "demo-records"
CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "registry-samples"
# Facts a sponsor would enter for the demo organisation's trials: a spread of verdicts.
DEMO_FACTS = (
    {
        "application_submitted_on": date(2026, 5, 10),
        "approved_on": date(2026, 6, 1),
        "first_participant_on": date(2026, 7, 15),
    },
    {
        "application_submitted_on": date(2025, 11, 1),
        "approved_on": date(2026, 1, 10),
        "end_of_trial_on": date(2026, 9, 30),
    },
    {"application_submitted_on": date(2026, 5, 2), "approved_on": date(2026, 5, 4)},
    {
        "application_submitted_on": date(2025, 6, 1),
        "approved_on": date(2025, 8, 1),
        "end_of_trial_on": date(2026, 10, 1),
        "early_termination": True,
    },
)


def demo_sources() -> tuple[list[Path], str]:
    """The record folders to import and where they come from, in words: $REGISTRY_SAMPLES
    when it is a folder, else the corpus beside the repository, else the package's own set."""
    configured = os.environ.get("REGISTRY_SAMPLES")
    for folder, where in (
        (Path(configured) if configured else None, f"REGISTRY_SAMPLES ({configured})"),
        (CORPUS, f"the registry samples beside the repository ({CORPUS})"),
    ):
        if folder is not None and folder.is_dir():
            paths = [folder / sub for sub in DEMO_SAMPLE_FOLDERS if (folder / sub).is_dir()]
            return (paths or [folder]), where
    paths = sorted(p for p in PACKAGE_RECORDS.iterdir() if p.is_dir() and p.name != "LICENSES")
    return paths, f"the demo records shipped with the portal ({PACKAGE_RECORDS})"


def load_demo_trials() -> str:
    """Import the sample records once and give the demo organisation a few UK trials. Returns
    one line for the console: how many trials were loaded and from where."""
    from portal.services.imports import import_paths

    org = db.session.execute(
        sa.select(Organisation).where(Organisation.name == DEMO_ORG["name"])
    ).scalar_one()
    owned = db.session.execute(
        sa.select(sa.func.count()).select_from(Trial).where(Trial.owner_organisation_id == org.id)
    ).scalar_one()
    if owned:
        trials = db.session.execute(sa.select(sa.func.count()).select_from(Trial)).scalar_one()
        return (
            f"Demo trials: already loaded ({trials} trials, {owned} owned by the demo "
            "organisation)."
        )
    paths, where = demo_sources()
    _run_id, report = import_paths([str(p) for p in paths])
    given = _give_demo_trials(org.id)
    return (
        f"Demo trials: imported {report['records_seen']} registry records "
        f"({report['created']} trials) from {where}; the demo organisation owns {given} UK "
        "trials."
    )


def _give_demo_trials(org_id: int) -> int:
    """Own the first UK trials (with facts entered) and return how many."""
    from portal.services import sponsor_facts

    candidates = (
        db.session.execute(
            sa.select(Trial)
            .where(Trial.uk_site.is_(True), Trial.owner_organisation_id.is_(None))
            .order_by(Trial.id)
            .limit(len(DEMO_FACTS) + 2)
        )
        .scalars()
        .all()
    )
    sponsor = db.session.execute(
        sa.select(User).where(User.email == DEMO_USERS["sponsor"][0])
    ).scalar_one()
    org = db.session.get(Organisation, org_id)
    names = list(org.sponsor_names)
    for trial, facts in zip(candidates, DEMO_FACTS, strict=False):
        _own(trial, org, sponsor)
        sponsor_facts.set_facts(sponsor, trial, facts)
    # The next UK trials stay unowned but carry names the demo organisation is registered
    # under, so the demo sponsor can try an automatic claim.
    for trial in candidates[len(DEMO_FACTS) :]:
        if trial.sponsor_name and trial.sponsor_name not in names:
            names.append(trial.sponsor_name)
    _set_names(org_id, names)
    return min(len(candidates), len(DEMO_FACTS))


@transactional
def _own(trial: Trial, org: Organisation, sponsor: User) -> None:
    trial.owner_organisation_id = org.id
    db.session.add(
        Claim(
            trial_id=trial.id,
            organisation_id=org.id,
            requested_by_id=sponsor.id,
            status="approved",
            match_reason="Demo data",
            decided_at=utcnow(),
        )
    )
    record("demo.trial_owned", "trial", trial.id, organisation_id=org.id)


@transactional
def _set_names(org_id: int, names: list[str]) -> None:
    org = db.session.get(Organisation, org_id)
    if org.sponsor_names != names:
        record(
            "demo.sponsor_names",
            "organisation",
            org.id,
            organisation_id=org.id,
            before={"sponsor_names": org.sponsor_names},
            after={"sponsor_names": names},
        )
        org.sponsor_names = names
