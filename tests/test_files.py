"""The content-addressed store: atomic with its row, shared by identical uploads."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import StoredFile
from portal.services import transactional
from portal.services.files import path_for, read_bytes, store_bytes


def test_stored_bytes_are_named_by_their_hash_and_shared(app):
    @transactional
    def store(data: bytes) -> int:
        return store_bytes(data, "text/plain", "a.txt").id

    first = store(b"hello")
    second = store(b"hello")
    assert first == second
    row = db.session.get(StoredFile, first)
    assert row.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert read_bytes(row) == b"hello"
    assert str(path_for(row.sha256)).startswith(app.config["UPLOAD_FOLDER"])


def test_a_rolled_back_upload_leaves_no_file_and_no_row(app):
    @transactional
    def store_then_fail() -> None:
        store_bytes(b"never kept", "text/plain")
        raise RuntimeError("something later failed")

    with pytest.raises(RuntimeError):
        store_then_fail()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0
    import hashlib

    assert not path_for(hashlib.sha256(b"never kept").hexdigest()).exists()


def test_a_path_is_only_made_from_a_real_digest(app):
    with pytest.raises(ValueError):
        path_for("../../etc/passwd")
