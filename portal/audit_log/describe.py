"""Audit events as a person reads them: "Facts changed", "Claim approved", and each change as
"End of trial: not known → 30 September 2026", instead of action codes and JSON."""

from __future__ import annotations

from typing import Any

from portal.plain import label

ACTIONS: dict[str, str] = {
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "audit_sample.drawn": "Audit sample drawn",
    "audit_sample.finding": "Audit sample finding recorded",
    "certificate.issued": "Certificate issued",
    "certificate.requested": "Certificate requested",
    "certificate.revoked": "Certificate revoked",
    "certificate.superseded": "Certificate replaced by a newer one",
    "claim.approved": "Claim approved",
    "claim.pending": "Claim sent to a reviewer",
    "claim.disputed": "Claim disputed",
    "claim.rejected": "Claim rejected",
    "claim.withdrawn": "Claim withdrawn",
    "demo.organisation_created": "Demo organisation created",
    "demo.sponsor_names": "Demo sponsor names set",
    "demo.trial_owned": "Demo trial given to the organisation",
    "demo.user_created": "Demo user created",
    "import.enqueued": "Import queued",
    "import.failed": "Import failed",
    "import.finished": "Import finished",
    "import.resumed": "Import resumed",
    "import.started": "Import started",
    "import.uploaded": "Registry file uploaded for import",
    "invitation.accepted": "Invitation accepted",
    "invitation.sent": "Invitation sent",
    "jargon.added": "Jargon term added",
    "obligations.recompute": "Duties worked out again",
    "organisation.approved": "Organisation approved",
    "organisation.created": "Organisation created",
    "organisation.rejected": "Organisation rejected",
    "parameters.changed": "Rule parameters changed",
    "participant_offer.recorded": "Participant offer recorded",
    "report.requested": "Portfolio report requested",
    "review.approved": "Review: approved",
    "review.changes_requested": "Review: changes requested",
    "review.submitted": "Sent for review",
    "review.withdrawn": "Review request withdrawn",
    "summary.uploaded": "Lay summary uploaded",
    "trial.added_by_sponsor": "Trial added by the sponsor",
    "trial.facts_changed": "Facts changed",
    "trial.released": "Trial released",
    "trial.transferred": "Trial transferred",
    "user.calendar_token_issued": "Private calendar link created",
    "user.calendar_token_revoked": "Private calendar link revoked",
    "user.email_confirmed": "Email address confirmed",
    "user.password_reset": "Password reset",
    "user.password_reset_requested": "Password reset requested",
    "user.registered": "Account created",
    "user.signed_in": "Signed in",
}

OBJECTS = {
    "user": "User",
    "trial": "Trial",
    "organisation": "Organisation",
    "claim": "Claim",
    "certificate": "Certificate",
    "submission": "Submission",
    "summary_version": "Lay summary version",
    "participant_offer": "Participant offer",
    "import_run": "Import",
    "audit_sample": "Audit sample",
    "parameter_set": "Rule parameters",
    "invitation": "Invitation",
    "report": "Portfolio report",
    "jargon_term": "Jargon term",
    "job": "Background job",
    "api_token": "API token",
}


def action(code: str) -> str:
    """The sentence for an action code; an unknown code becomes words, never the code."""
    if code in ACTIONS:
        return ACTIONS[code]
    subject, _, verb = code.partition(".")
    words = f"{subject.replace('_', ' ')} {verb.replace('_', ' ')}".strip()
    return words[:1].upper() + words[1:]


def record(object_type: str, object_id: Any) -> str:
    name = OBJECTS.get(object_type) or object_type.replace("_", " ").capitalize()
    return f"{name} {object_id}" if object_id else name


def _value(value: Any) -> str:
    from portal.domain.trials.facts import describe_value

    if value is None or value == "" or value == []:
        return "not set"
    return describe_value(value)


def changes(before: Any, after: Any) -> list[str]:
    """Each changed field as "Label: old → new" (or "Label: value" when only one side)."""
    before = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    after = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    lines = []
    for key in list(dict.fromkeys([*before, *after])):
        name = label(key)
        if key in before and key in after:
            if before[key] == after[key]:
                continue
            lines.append(f"{name}: {_value(before[key])} → {_value(after[key])}")
        elif key in after:
            lines.append(f"{name}: {_value(after[key])}")
        else:
            lines.append(f"{name} was {_value(before[key])}")
    return lines
