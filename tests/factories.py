"""Rows for tests, built with factory_boy on the app's session."""

from __future__ import annotations

import factory
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Membership, Organisation, User
from portal.timeutil import utcnow

PASSWORD = "correct horse battery"


class Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class OrganisationFactory(Base):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Sponsor Org {n}")
    email_domains = factory.Sequence(lambda n: [f"org{n}.example"])
    sponsor_names = factory.LazyAttribute(lambda o: [o.name])
    status = "approved"


class UserFactory(Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@org.example")
    full_name = factory.Sequence(lambda n: f"User {n}")
    password_hash = factory.LazyFunction(lambda: generate_password_hash(PASSWORD))
    email_confirmed_at = factory.LazyFunction(utcnow)
    system_role = None


def member(role: str, organisation: Organisation | None = None, **kwargs) -> User:
    """A confirmed user holding ``role`` in ``organisation`` (a new one if not given)."""
    organisation = organisation or OrganisationFactory()
    domain = organisation.email_domains[0]
    user = UserFactory(email=factory.Faker._get_faker().unique.user_name() + "@" + domain, **kwargs)
    db.session.add(Membership(user_id=user.id, organisation_id=organisation.id, role=role))
    db.session.commit()
    return user


def staff(role: str, **kwargs) -> User:
    """A reviewer or admin."""
    return UserFactory(system_role=role, **kwargs)


def trial(
    title: str = "A trial of something",
    sponsor_name: str = "Acme Pharma Ltd",
    owner=None,
    registry: str = "ClinicalTrials.gov",
    registry_id: str | None = None,
    **facts,
):
    """A trial with one registry entry and its identifier, as an import would leave it."""
    from datetime import date

    from portal.models import RegistryEntry, Trial, TrialIdentifier

    trial.counter = getattr(trial, "counter", 0) + 1
    registry_id = registry_id or f"NCT{90000000 + trial.counter:08d}"
    imported = {
        key: {
            "value": value,
            "registry": registry,
            "record": registry_id,
            "imported_at": "2026-11-01T00:00:00+00:00",
        }
        for key, value in {"title": title, "sponsor_name": sponsor_name, **facts}.items()
    }
    row = Trial(
        title=title,
        sponsor_name=sponsor_name,
        imported_facts=imported,
        owner_organisation_id=owner.id if owner else None,
    )
    db.session.add(row)
    db.session.flush()
    db.session.add(
        RegistryEntry(
            trial_id=row.id,
            registry_name=registry,
            registry_id=registry_id,
            registered_on=date(2026, 5, 1),
            content_hash="x" * 64,
            record={},
        )
    )
    kind = "nct" if registry_id.startswith("NCT") else "isrctn"
    db.session.add(TrialIdentifier(trial_id=row.id, kind=kind, value=registry_id))
    db.session.commit()
    return row
