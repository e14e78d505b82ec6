"""Obligations: the rules' verdicts stored per trial and duty, and kept current.

``recompute_for_trials`` runs inside the caller's transaction (the importer, sponsor fact entry,
review decisions, the parameters page): it never commits, so the facts and the verdicts they give
are committed together or not at all. The daily job (``workers.obligations.recompute_all``) calls
``recompute_range`` for chunks of trial ids, one transaction per chunk.

Two ways to recompute:

* from the trial's records (``_recompute``: registry entries, imported and sponsor-entered
  facts), whenever facts change, inside that change's transaction. This also stores, once per
  trial, the facts the verdicts were worked out from and a digest of the verdicts
  (``ObligationInputs``);
* from those stored facts (``_recompute_stored``): the daily job. Each trial is evaluated again
  from one row; only a trial whose verdicts' digest changed has its stored verdicts read and
  compared.

Stored verdicts hold no day counts and no "as of" date (``encode.STORED_OMITS``; the rules'
explanations name neither), so a verdict is rewritten only when its status, dates or facts
change, not every day; the days overdue or left are worked out when shown
(``Obligation.days_overdue_on``).

Verdicts of "not applicable", most of all verdicts, are not ``obligations`` rows: each trial's
are kept in one document with its stored facts (``ObligationInputs.not_applicable``, written
whenever the verdicts' digest changes; ``portal.domain.obligations.stored``). A duty that stops or
starts applying moves between the two, and its status change is recorded as for any other.

Reads are one query per table per chunk of trials, never one per trial; verdicts are encoded to
deterministic JSON text (``portal.domain.obligations.encode``) and one whose text equals the stored
text is not written; new rows, changed rows and status history are written in bulk (on PostgreSQL
with binary ``COPY``, changed rows through a temporary table and one ``UPDATE ... FROM``;
elsewhere with executemany), and the reads skip SQLAlchemy's result processing on PostgreSQL.
``bench/rules.py`` measures both ways on 500,000 trials.

The trial rows of a chunk are locked (``FOR NO KEY UPDATE`` on PostgreSQL) before their
obligations are read, so two recomputes of the same trial (an import and the daily job) run one
after the other and never insert the same (trial, duty) twice.

Bad stored facts never stop a recompute: ``Facts.from_dict`` errors drop the offending fact, the
trial is evaluated without it, and every verdict of that trial says which fact was ignored and
why (in its explanation and in ``verdict["fact_problems"]``).

The package, by concern: ``recompute`` (the entry points and one chunk of trials read,
evaluated and written), ``evaluating`` (facts to verdicts and their stored texts), ``storing``
(the reads of what is stored and the bulk writes) and ``daily`` (the recompute of every trial,
shared between workers). The names below are its interface.
"""

from __future__ import annotations

from portal.services.obligations.daily import (
    RECOMPUTE_JOB_KIND,
    enqueue_recompute_all,
    id_ranges,
    latest_recompute_job,
    start_recompute_all,
)
from portal.services.obligations.evaluating import (
    FACTS_BUILD,
    FACTS_FORMAT,
    Ahead,
    NewTrial,
    VerdictRow,
    Worked,
    facts_document,
    verdicts_digest,
)
from portal.services.obligations.recompute import (
    CHUNK,
    RecomputeStats,
    newly_changed,
    no_longer,
    recompute_for_trials,
    recompute_range,
)

__all__ = [
    "Ahead",
    "CHUNK",
    "FACTS_BUILD",
    "FACTS_FORMAT",
    "NewTrial",
    "RECOMPUTE_JOB_KIND",
    "RecomputeStats",
    "VerdictRow",
    "Worked",
    "enqueue_recompute_all",
    "facts_document",
    "id_ranges",
    "latest_recompute_job",
    "newly_changed",
    "no_longer",
    "recompute_for_trials",
    "recompute_range",
    "start_recompute_all",
    "verdicts_digest",
]
