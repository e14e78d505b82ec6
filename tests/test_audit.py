"""The audit trail is a hash chain: rewriting or deleting an event is detected."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from portal.extensions import db
from portal.models import AuditEvent
from portal.services import transactional
from portal.services.audit import record, verify_chain


@transactional
def _write(n: int) -> None:
    for i in range(n):
        record("test.event", "thing", i, after={"n": i})


def test_an_intact_chain_verifies(app):
    _write(5)
    report = verify_chain()
    assert report.ok and report.checked == 5
    result = CliRunner().invoke(app.cli, ["audit", "verify"], obj=None)
    assert "Audit trail intact: 5 events checked." in result.output


def test_rewriting_an_event_is_caught_and_named(app):
    _write(5)
    third = (
        db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.id).offset(2))
        .scalars()
        .first()
    )
    db.session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == third.id).values(after={"n": 99})
    )
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.first_bad_id == third.id and report.checked == 2


def test_deleting_the_latest_event_is_caught(app):
    _write(3)
    last = db.session.execute(sa.select(sa.func.max(AuditEvent.id))).scalar()
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == last))
    db.session.commit()
    assert not verify_chain().ok


def test_a_failed_service_call_writes_no_audit_event(app):
    @transactional
    def failing() -> None:
        record("test.event", "thing", 1)
        raise ValueError("boom")

    try:
        failing()
    except ValueError:
        pass
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
