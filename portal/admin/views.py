"""The outbox: every email the portal sent or kept, so a local run can confirm accounts."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request

from portal import access
from portal.admin import bp
from portal.extensions import db
from portal.models import OutboxEmail

PAGE_SIZE = 50


@bp.route("/outbox")
@access.roles("admin")
def outbox():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    emails = (
        db.session.execute(
            sa.select(OutboxEmail)
            .order_by(OutboxEmail.id.desc())
            .limit(PAGE_SIZE + 1)
            .offset((page - 1) * PAGE_SIZE)
        )
        .scalars()
        .all()
    )
    has_next = len(emails) > PAGE_SIZE
    return render_template(
        "admin/outbox.html", emails=emails[:PAGE_SIZE], page=page, has_next=has_next
    )


@bp.route("/outbox/<int:email_id>")
@access.roles("admin")
def outbox_email(email_id: int):
    email = db.get_or_404(OutboxEmail, email_id)
    return render_template("admin/outbox-email.html", email=email)
