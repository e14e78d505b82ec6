"""Registry sync (issue 19): trials kept fresh from ClinicalTrials.gov API v2 and ISRCTN's API.

``sync_source`` reads a registry's pages (``portal.registries.remote``) and stores them with the
importer's batches (``portal.services.imports``: merged by cross-reference, idempotent,
rejections kept with reasons), one ImportRun per sync, so ``run_report`` gives the same report
as ``flask trials import --report``. A cursor per source (``RegistrySyncState.cursor_on``, the
date of the last fully successful sync) moves only when a sync completes; a sync that stops
resumes from its last committed page. Changes to claimed trials are audited with the fields'
labels. ``watches`` keeps organisations' watch lists and offers them new trials under a
watched sponsor name.
"""

from __future__ import annotations

from portal.services.registry_sync.runs import (
    SOURCES,
    SyncError,
    SyncSettings,
    combined_report,
    sync_source,
    sync_state,
)
from portal.services.registry_sync.watches import (
    Watch,
    add_watch,
    offered_trials,
    record_freshness,
    registry_changes,
    remove_watch,
    watch_list,
    watched_for_sync,
)

__all__ = [
    "SOURCES",
    "SyncError",
    "SyncSettings",
    "Watch",
    "add_watch",
    "combined_report",
    "offered_trials",
    "record_freshness",
    "registry_changes",
    "remove_watch",
    "sync_source",
    "sync_state",
    "watch_list",
    "watched_for_sync",
]
