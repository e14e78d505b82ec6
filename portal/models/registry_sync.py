"""Registry sync (issue 19): each source's cursor and page progress, organisations' watch lists."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow

SYNC_SOURCES = ("ctgov", "isrctn")
WATCH_KINDS = ("trial", "sponsor")


class RegistrySyncState(db.Model):
    """One row per source. ``cursor_on`` is the date of the last fully successful sync (the next
    sync asks for what changed since then); it moves only when a sync completes. While a sync
    is unfinished, ``run_id`` names its ImportRun, whose ``resume_after`` is the last committed
    page, and ``plan`` the queries it runs, so a stopped sync resumes where it stopped."""

    __tablename__ = "registry_sync_states"

    source: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    cursor_on: Mapped[date | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_runs.id"))
    plan: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    audited_change_id: Mapped[int] = mapped_column(default=0)  # TrialChange ids audited so far


class RegistryWatch(db.Model):
    """A trial id or sponsor name an organisation asked the sync to watch. ``automatic``: a
    verified sponsor name from an approved claim, added by the portal itself."""

    __tablename__ = "registry_watches"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # trial / sponsor
    value: Mapped[str] = mapped_column(sa.String(500))
    automatic: Mapped[bool] = mapped_column(default=False)
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
