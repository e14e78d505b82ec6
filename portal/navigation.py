"""Role-aware links for the service navigation bar. Areas add theirs to NAV_ITEMS."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for


@dataclass(frozen=True)
class NavItem:
    text: str
    endpoint: str
    roles: tuple[str, ...]


NAV_ITEMS: list[NavItem] = [
    NavItem(
        "Trials",
        "trials.dashboard",
        ("sponsor", "sponsor_admin", "compliance_officer", "reviewer", "admin"),
    ),
    NavItem("Find a trial", "trials.find", ("sponsor", "sponsor_admin", "compliance_officer")),
    NavItem("Deadlines", "trials.calendar", ("sponsor", "sponsor_admin", "compliance_officer")),
    NavItem("Claims", "trials.my_claims", ("sponsor", "sponsor_admin", "compliance_officer")),
    NavItem("Reports", "certificates.reports_page", ("compliance_officer", "reviewer", "admin")),
    NavItem("Claims to review", "review.claims", ("reviewer", "admin")),
    NavItem("Imports", "imports.index", ("reviewer", "admin")),
    NavItem("Review queue", "review.queue", ("reviewer", "admin")),
    NavItem("Audit samples", "review.samples", ("reviewer", "admin")),
    NavItem(
        "Audit log",
        "audit_log.index",
        ("sponsor", "sponsor_admin", "compliance_officer", "reviewer", "admin"),
    ),
    NavItem(
        "Organisation", "auth.organisation", ("sponsor", "sponsor_admin", "compliance_officer")
    ),
    NavItem("Organisations", "review.organisations", ("reviewer", "admin")),
    NavItem("Outbox", "admin.outbox", ("admin",)),
    NavItem("Rule parameters", "obligations.parameters", ("admin",)),
    NavItem("Tracker responses", "tracker.review_queue", ("reviewer", "admin")),  # issue 21
]


def extra_navigation(user) -> list[dict[str, str]]:
    """The links ``user`` may follow, in order."""
    if not user.is_authenticated or not user.role or not user.email_confirmed:
        return []
    if not user.sees_all_organisations and (
        user.organisation is None or not user.organisation.approved
    ):
        return []
    return [
        {"text": item.text, "href": url_for(item.endpoint)}
        for item in NAV_ITEMS
        if user.role in item.roles
    ]
