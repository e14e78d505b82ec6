"""Demo data for a local run: one organisation and one user for each role. Idempotent."""

from __future__ import annotations

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Membership, Organisation, User
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
