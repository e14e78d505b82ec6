"""Import registry records into trials: batched, idempotent, resumable, merged by cross-reference.

``import_paths`` (the command line) and ``run_import`` (the upload job) read every record of the
given files with ``portal.registries.iter_records`` and store them in batches of ``BATCH_SIZE``.
Each batch is one transaction: its trials, registry entries, identifiers, changes, rejections,
the run's counters and its resume position are committed together, so a run that stops leaves
no half-written trial and can be resumed (``ImportRun.resume_after``).

Outcome of each record (exactly one, so the counts add up to ``records_seen``):

* created: a registry entry not seen before, whose cross-references match no trial: a new trial.
* merged: a new registry entry whose cross-references (NCT, ISRCTN, EudraCT, EU CT, IRAS) match
  an existing trial joins that trial; and a record whose cross-references point at two or more
  trials merges them into the oldest one (lowest id): its entries, identifiers, sponsor facts and
  every other row that refers to the trial move to it, the other trial's obligations are deleted
  (they are recomputed) and the other trial is deleted. Trials owned by two different
  organisations are never merged: the record is rejected with the reason. A trial holds at most
  one id per registry: a cross-reference that would put two ids of one registry (two ISRCTN
  numbers) into a trial is not followed, and placeholder ids (NCT12345678, ISRCTN00000000) never
  merge anything.
* updated: a known registry entry whose content changed; a ``TrialChange`` row records each
  changed field as ``[old, new]``.
* unchanged: the same content as stored (``content_hash``), a version this entry already had
  before (its hash is kept in ``record["previous_hashes"]``), or an older version (its
  ``last_updated`` is before the stored one). Nothing is written for these records.
* rejected: the reader's ``Rejected`` items, and records that cannot be stored; each is kept as an
  ``ImportRejection`` row with file, record and reason.

A trial's imported facts are derived from all its registry entries: for each fact, the value of
the highest-priority registry that has it (ClinicalTrials.gov > ISRCTN > CTIS > EUCTR > others,
alphabetically), with that entry as its source; the countries are the union of all entries'
(the source names every entry that added one). Sponsor-entered facts live in ``sponsor_facts``
and are never touched.

Concurrency: the unique constraints on (registry, registry_id) and (kind, value) decide races
between importers, and the trials whose facts a batch rewrites are locked first (PostgreSQL).
A batch that fails (IntegrityError, deadlock, or any error) is rolled back and retried record by
record, each record in its own transaction reading the state afresh; a record that still fails
is rejected with the reason.

Speed (``bench/import.py``): one batch reads the entries and identifiers it needs in two queries
(joined to unnest() arrays on PostgreSQL, so plans never depend on statistics), writes with binary
COPY (PostgreSQL) or executemany, and never holds ORM objects, so memory stays flat. The verdicts
of the trials a batch creates are worked out from the records in memory, not read back
(``recompute_for_trials(new_trials=...)``). Parsing runs beside the database work: in a thread,
or for inputs over ``PROCESS_READER_MIN_BYTES`` in a process of its own, which also works out
the verdicts of a share of the records that will make new trials (``_WorkAhead``), balanced so
that neither process waits for the other. Garbage collection runs less often during a run.
Verdicts of "not applicable" (9 in 10 of a typical import) are stored once per trial, not as rows
(``portal.domain.obligations.stored``): that halved the database's work in an import.

The package, by concern: ``records`` (a record as stored, the counts), ``merging`` (facts from
all entries, merging trials), ``writes`` (bulk reads and writes), ``batches`` (one transaction
of records), ``parallel`` (reader thread and process), ``runs`` (start, resume, run, report) and
``uploads`` (upload files and their job). The names below are its interface.
"""

from __future__ import annotations

from portal.services.imports.merging import (
    EntryView,
    derive_trial,
)
from portal.services.imports.records import (
    BATCH_SIZE,
    Counts,
    Prepared,
    Progress,
)
from portal.services.imports.runs import (
    finish_run,
    import_paths,
    run_import,
    run_report,
    start_run,
)
from portal.services.imports.uploads import (
    IMPORT_JOB_KIND,
    accept_upload,
    enqueue_upload,
    size_text,
    store_upload,
    sweep_uploads,
    upload_problem,
)

__all__ = [
    "BATCH_SIZE",
    "Counts",
    "EntryView",
    "IMPORT_JOB_KIND",
    "Prepared",
    "Progress",
    "accept_upload",
    "derive_trial",
    "enqueue_upload",
    "finish_run",
    "import_paths",
    "run_import",
    "run_report",
    "size_text",
    "start_run",
    "store_upload",
    "sweep_uploads",
    "upload_problem",
]
