"""Stored verdicts of the rules engine, their history, and the versioned rule parameters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import today, utcnow

OPEN_STATUSES = frozenset({"upcoming", "due_soon", "deferred"})


def select_inputs(duty: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The entries of a trial's ``inputs`` that duty ``duty`` reads, in the stored order
    (what ``Facts.duty_inputs[duty]`` held when the verdict was made)."""
    from portal.rules.duties import READERS

    return {key: entry for key, entry in inputs.items() if duty in READERS.get(key, ())}


class ParameterSet(db.Model):
    """One version of the [param] values of RULES.md. The highest version is in force."""

    __tablename__ = "parameter_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    values: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class ObligationInputs(db.Model):
    """The facts one trial's verdicts were worked out from, stored once per trial.

    Every verdict shows the facts its duty reads, each with its value and source (RULES.md
    "What every verdict shows"). Those entries are the same for all ~10 verdicts of a trial and
    do not change with the date, so they are kept here once (``inputs``: fact name ->
    ``{"value", "source"}``, ``Facts.inputs``) rather than copied into every stored verdict;
    :attr:`Obligation.inputs` gives each verdict its own selection again.
    """

    __tablename__ = "obligation_inputs"

    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), primary_key=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # The validated facts the verdicts were worked out from, as Facts.from_dict reads them:
    # {"format", "facts", "sources", "problems", "checks"} (services.obligations.facts_document).
    # Facts change only where the trial is recomputed from its records in the same transaction
    # (imports; sponsor_facts.set_facts for every fact recorded on a page), so the daily
    # recompute can evaluate every trial from this row alone. None for rows stored before 0006.
    facts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # A digest of the trial's stored verdict texts (portal.services.obligations.verdicts_digest):
    # a recompute whose verdicts give the same digest has nothing to write for the trial.
    digest: Mapped[str | None] = mapped_column(sa.String(32))
    # The trial's verdicts of not applicable, grouped by verdict text: they are not
    # ``obligations`` rows (portal.domain.obligations.stored). NULL when no duty is not applicable.
    not_applicable: Mapped[list[Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Obligation(db.Model):
    """The current verdict on one duty of one trial, for every duty that is not "not applicable"
    (those are stored once per trial: ``ObligationInputs.not_applicable``; read every verdict of
    a trial with ``portal.domain.obligations.stored.verdicts_for``).

    ``verdict`` is the engine's JSON for the verdict (``portal.rules.Obligation.to_json()``)
    without its ``inputs``, which live once per trial in :class:`ObligationInputs`, and without
    its day counts, which change every day (:meth:`days_overdue_on`, :meth:`days_remaining_on`);
    :meth:`full_verdict` puts them together again. ``as_of`` is the day the stored verdict was
    last worked out differently: the daily recompute leaves an unchanged verdict alone.
    """

    __tablename__ = "obligations"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"))
    duty: Mapped[str] = mapped_column(sa.String(20))
    ruleset: Mapped[str] = mapped_column(sa.String(20))
    # Not indexed: every query reaches obligations through their trial (uq_obligation_trial_duty),
    # and two more indexes on ~10 rows a trial slowed the recompute more than they helped.
    status: Mapped[str] = mapped_column(sa.String(20))
    due: Mapped[date | None] = mapped_column()
    verdict: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    params_version: Mapped[int | None] = mapped_column()
    as_of: Mapped[date] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("trial_id", "duty", name="uq_obligation_trial_duty"),
        # The daily notifications job reads the duties due on a few given days (migration 0010).
        sa.Index(
            "ix_obligations_due",
            "due",
            postgresql_where=sa.text("due IS NOT NULL"),
            sqlite_where=sa.text("due IS NOT NULL"),
        ),
    )

    # Many-to-one on the primary key: the verdicts of one trial share one row (one query, then
    # the identity map).
    inputs_row: Mapped[ObligationInputs | None] = relationship(
        ObligationInputs,
        primaryjoin=lambda: foreign(Obligation.trial_id) == ObligationInputs.trial_id,
        viewonly=True,
        lazy="select",
    )

    @property
    def inputs(self) -> dict[str, Any]:
        """The facts this verdict rests on (fact name -> {"value", "source"}), as the engine
        showed them: the trial's stored inputs that the duty reads (``rules.duties.READERS``)."""
        verdict = self.verdict or {}
        if "inputs" in verdict:  # a verdict stored before the inputs moved to their own table
            return verdict["inputs"] or {}
        row = self.inputs_row
        if row is None or not isinstance(row.inputs, dict):
            return {}
        return select_inputs(self.duty, row.inputs)

    # The day counts are not stored (they change every day while the verdict does not): they
    # are worked out here from the stored due date, exactly as the rules count them
    # (portal.rules.common.settle).

    def days_overdue_on(self, day: date) -> int:
        """Days past due on ``day`` for an overdue duty; days late for one met late; else 0."""
        due = self.due
        if due is None:
            return 0
        if self.status == "overdue":
            return max(0, (day - due).days)
        if self.status == "met_late":
            met_on = (self.verdict or {}).get("met_on")
            try:
                return max(0, (date.fromisoformat(met_on) - due).days)
            except (TypeError, ValueError):
                return 0
        return 0

    def days_remaining_on(self, day: date) -> int | None:
        """Days until due on ``day`` while the duty is open (upcoming, due soon, deferred); None
        once the due date has passed (the next recompute makes such a duty overdue)."""
        if self.due is None or self.status not in OPEN_STATUSES or self.due < day:
            return None
        return (self.due - day).days

    @property
    def days_overdue(self) -> int:
        """Days overdue (or late) as of today."""
        return self.days_overdue_on(today())

    @property
    def days_remaining(self) -> int | None:
        """Days left as of today while the duty is open, else None."""
        return self.days_remaining_on(today())

    def full_verdict(self, as_of: date | None = None) -> dict[str, Any]:
        """The verdict with its inputs and its day counts on ``as_of`` (default today): what the
        engine gives on that day while the stored status still holds."""
        day = as_of or today()
        return {
            **(self.verdict or {}),
            "days_overdue": self.days_overdue_on(day),
            "days_remaining": self.days_remaining_on(day),
            "inputs": self.inputs,
        }


class ObligationStatusChange(db.Model):
    """Each status change of an obligation, so pages can list what became overdue on a day.

    A duty's first verdict is a change from nothing (``old_status`` None), except a first
    verdict of not applicable, which is not recorded: a duty that does not apply has no history
    to follow, and most duties of most imported trials do not apply (9 rows in 10 of a first
    import). Its later changes are recorded as usual."""

    __tablename__ = "obligation_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    duty: Mapped[str] = mapped_column(sa.String(20))
    old_status: Mapped[str | None] = mapped_column(sa.String(20))
    new_status: Mapped[str] = mapped_column(sa.String(20))
    changed_on: Mapped[date] = mapped_column(index=True)  # the as_of date of the recompute
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    reason: Mapped[str] = mapped_column(
        sa.String(60)
    )  # import, sponsor_fact, review, daily, params


class VerdictsVersion(db.Model):
    """One row whose token changes whenever any stored verdict, or a trial's owner, changes
    (migration 0014's database triggers, so every way of writing them counts: the recompute,
    bulk statements, the imports). What the cached figures are checked against (issues 18 and 22).

    On PostgreSQL the token changes when the writing transaction commits (a deferred trigger,
    once per transaction, so concurrent writers hold the row for a moment only); on SQLite at
    each write. A token is random, so one rolled back is never seen again."""

    __tablename__ = "verdicts_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(36))


class VerdictCache(db.Model):
    """A figure worked out from an organisation's verdicts (portal.domain.obligations.cache):
    good while the verdicts' token is the one it was worked out under, for the same day. One
    row per organisation and kind of figure (the portfolio's trend, issue 18; the dashboard's
    counts by status, issue 22)."""

    __tablename__ = "verdict_cache"

    organisation_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    as_of: Mapped[date] = mapped_column()
    token: Mapped[str] = mapped_column(sa.String(36))
    value: Mapped[Any] = mapped_column(sa.JSON)
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
