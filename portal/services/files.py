"""The content-addressed file store: bytes on disk named by SHA-256, a row in stored_files.

Files are written to a temporary name and renamed into place (atomic on one filesystem), and the
row is added in the caller's transaction. If that transaction rolls back, the file is removed
again unless another row already uses it, so there are no orphan files and no row without its
file. Two uploads of the same bytes share one file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event

from portal.extensions import db
from portal.models import StoredFile


def storage_root() -> Path:
    root = Path(current_app.config["UPLOAD_FOLDER"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def path_for(sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return storage_root() / sha256[:2] / sha256


def store_bytes(data: bytes, content_type: str, original_name: str = "") -> StoredFile:
    """Store ``data`` (once per distinct content) and return its row, in the current transaction."""
    sha = hashlib.sha256(data).hexdigest()
    existing = db.session.execute(
        sa.select(StoredFile).where(StoredFile.sha256 == sha)
    ).scalar_one_or_none()
    target = path_for(sha)
    created_file = False
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            created_file = True
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if existing is not None:
        return existing
    row = StoredFile(
        sha256=sha, size=len(data), content_type=content_type, original_name=original_name[:255]
    )
    db.session.add(row)
    db.session.flush()
    if created_file:
        _remove_on_rollback(target)
    return row


def _remove_on_rollback(target: Path) -> None:
    session = db.session()

    def after_rollback(_session) -> None:
        if target.exists():
            target.unlink()

    def after_commit(_session) -> None:
        event.remove(session, "after_soft_rollback", after_rollback_soft)

    def after_rollback_soft(_session, previous_transaction) -> None:
        if previous_transaction.parent is None:  # the outermost transaction rolled back
            after_rollback(_session)
            event.remove(session, "after_soft_rollback", after_rollback_soft)
            if event.contains(session, "after_commit", after_commit):
                event.remove(session, "after_commit", after_commit)

    event.listen(session, "after_soft_rollback", after_rollback_soft)
    event.listen(session, "after_commit", after_commit, once=True)


def read_bytes(stored: StoredFile) -> bytes:
    return path_for(stored.sha256).read_bytes()
