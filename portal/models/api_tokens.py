"""Personal access tokens for the API (issue 21). Not the emailed links of portal/tokens.py.

Only the SHA-256 of the secret is stored: the token itself is shown once, when it is made.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow

SCOPE_REQUEST = "request_certificates"  # may request certificates and portfolio reports
SCOPES = (SCOPE_REQUEST,)


class ApiToken(db.Model):
    """One personal access token of one user: read-only unless it holds a scope."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # SHA-256 hex
    prefix: Mapped[str] = mapped_column(sa.String(12))  # the first characters, to recognise it
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    def may(self, scope: str) -> bool:
        return scope in (self.scopes or ())
