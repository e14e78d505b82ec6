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
