"""Database models, one module per area; importing this package registers them all."""

from portal.models.accounts import (
    Invitation,
    Membership,
    Organisation,
    UsedToken,
    User,
    UserSession,
)
from portal.models.api_tokens import ApiToken
from portal.models.audit import AuditChainHead, AuditEvent
from portal.models.certificates import Certificate
from portal.models.claims import Claim
from portal.models.evidence import (
    AuditSample,
    AuditSampleItem,
    JargonTerm,
    ParticipantOffer,
    ReviewComment,
    Submission,
    SummaryVersion,
)
from portal.models.files import StoredFile
from portal.models.jobs import BackgroundJob
from portal.models.notifications import (
    Notification,
    NotificationDigest,
    NotificationPreference,
    NotificationRun,
)
from portal.models.obligations import (
    Obligation,
    ObligationInputs,
    ObligationStatusChange,
    ParameterSet,
    VerdictCache,
    VerdictsVersion,
)
from portal.models.outbox import OutboxEmail
from portal.models.registry_sync import RegistrySyncState, RegistryWatch
from portal.models.tracker import (
    TrackerChange,
    TrackerDisclosure,
    TrackerResponse,
    TrackerRun,
    TrackerSponsor,
    TrackerTrial,
)
from portal.models.trials import (
    ImportRejection,
    ImportRun,
    RegistryEntry,
    SponsorFact,
    Trial,
    TrialChange,
    TrialIdentifier,
)

__all__ = [
    "ApiToken",
    "TrackerChange",
    "TrackerDisclosure",
    "TrackerResponse",
    "TrackerRun",
    "TrackerSponsor",
    "TrackerTrial",
    "AuditSample",
    "AuditSampleItem",
    "Certificate",
    "JargonTerm",
    "ParticipantOffer",
    "ReviewComment",
    "StoredFile",
    "Submission",
    "SummaryVersion",
    "ImportRejection",
    "ImportRun",
    "Obligation",
    "ObligationInputs",
    "ObligationStatusChange",
    "ParameterSet",
    "VerdictCache",
    "VerdictsVersion",
    "RegistryEntry",
    "RegistrySyncState",
    "RegistryWatch",
    "SponsorFact",
    "Trial",
    "TrialChange",
    "TrialIdentifier",
    "AuditChainHead",
    "AuditEvent",
    "BackgroundJob",
    "Claim",
    "Invitation",
    "Membership",
    "Organisation",
    "Notification",
    "NotificationDigest",
    "NotificationPreference",
    "NotificationRun",
    "OutboxEmail",
    "UsedToken",
    "UserSession",
    "User",
]
