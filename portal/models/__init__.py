"""Database models, one module per area; importing this package registers them all."""

from portal.models.accounts import Invitation, Membership, Organisation, UsedToken, User
from portal.models.audit import AuditChainHead, AuditEvent
from portal.models.jobs import BackgroundJob
from portal.models.outbox import OutboxEmail

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "BackgroundJob",
    "Invitation",
    "Membership",
    "Organisation",
    "OutboxEmail",
    "UsedToken",
    "User",
]
