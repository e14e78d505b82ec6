"""Reviewer pages: approve or reject new sponsor organisations."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal import access
from portal.auth.forms import DecisionForm
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import Claim, Organisation
from portal.review import bp
from portal.services import AlreadyDone, ServiceError, accounts
from portal.services import claims as claims_service


@bp.route("/organisations")
@access.roles("reviewer", "admin")
def organisations():
    rows = (
        db.session.execute(
            sa.select(Organisation).order_by(
                sa.case((Organisation.status == "pending", 0), else_=1), Organisation.created_at
            )
        )
        .unique()
        .scalars()
        .all()
    )
    return render_template("review/organisations.html", organisations=rows)


@bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def organisation(org_id: int):
    org = db.get_or_404(Organisation, org_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            accounts.decide_organisation(
                current_user, org.id, form.decision.data == "approve", form.reason.data or ""
            )
        except AlreadyDone as exc:
            flash(exc.message, "info")
            return redirect(url_for("review.organisations"))
        except ServiceError as exc:
            add_service_error(form, exc, default_field="reason")
        else:
            flash(f"{org.name} is now {org.status}.", "success")
            return redirect(url_for("review.organisations"))
    return render_template("review/organisation.html", org=org, form=form)


@bp.route("/claims")
@access.roles("reviewer", "admin")
def claims():
    rows = (
        db.session.execute(
            sa.select(Claim)
            .where(Claim.status.in_(("pending", "disputed")))
            .order_by(Claim.created_at)
        )
        .scalars()
        .all()
    )
    return render_template("review/claims.html", claims=rows)


@bp.route("/claims/<int:claim_id>", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def claim(claim_id: int):
    claim = db.get_or_404(Claim, claim_id)
    owner = (
        db.session.get(Organisation, claim.trial.owner_organisation_id)
        if claim.trial.owner_organisation_id
        else None
    )
    form = DecisionForm()  # approve, or reject with a reason: the same as for organisations
    if form.validate_on_submit():  # a decided claim: the service says what stands
        try:
            claims_service.decide_claim(
                current_user, claim.id, form.decision.data == "approve", form.reason.data or ""
            )
        except AlreadyDone as exc:
            flash(exc.message, "info")
            return redirect(url_for("review.claims"))
        except ServiceError as exc:
            add_service_error(form, exc, default_field="reason")
        else:
            flash(f"Claim {claim.status}.", "success")
            return redirect(url_for("review.claims"))
    from portal.models.claims import RELATIONS

    return render_template(
        "review/claim.html", claim=claim, owner=owner, form=form, relations=RELATIONS
    )


# --- Issue 6: the review queue, submissions, jargon list and audit samples ------------------------
# Thin views over portal.services.review; the forms live with the areas they serve.


def _queue_filters() -> tuple[int | None, str | None, int]:
    from flask import request

    from portal.services.review import KIND_LABELS

    org = request.args.get("organisation", "")
    kind = request.args.get("kind", "")
    page = request.args.get("page", "1")
    return (
        int(org) if org.isdigit() and int(org) > 0 else None,
        kind if kind in KIND_LABELS else None,
        max(1, min(int(page), 100000)) if page.isdigit() else 1,
    )


@bp.route("/queue")
@access.roles("reviewer", "admin")
def queue():
    from portal.services import review as review_service
    from portal.timeutil import utcnow

    organisation_id, kind, page = _queue_filters()
    items, total = review_service.queue(organisation_id, kind, page)
    orgs = db.session.execute(
        sa.select(Organisation.id, Organisation.name)
        .where(Organisation.status == "approved")
        .order_by(Organisation.name)
    ).all()
    return render_template(
        "review/queue.html",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // review_service.QUEUE_PAGE_SIZE)),
        organisations=orgs,
        organisation_id=organisation_id,
        kind=kind,
        kinds=review_service.KIND_LABELS,
        now=utcnow(),
    )


@bp.route("/submissions/<int:submission_id>", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def submission(submission_id: int):
    from portal.models import ParticipantOffer, Submission, SummaryVersion, Trial
    from portal.services import review as review_service
    from portal.services import summaries as summaries_service
    from portal.summaries.forms import ReviewDecisionForm
    from portal.trials import queries

    item = db.get_or_404(Submission, submission_id)
    trial = db.session.get(Trial, item.trial_id)
    form = ReviewDecisionForm()
    if form.validate_on_submit():  # a decided item: the service says what stands
        try:
            review_service.decide(
                current_user, item.id, form.decision.data, form.comment.data or ""
            )
        except AlreadyDone as exc:
            flash(exc.message, "info")
            return redirect(url_for("review.queue"))
        except ServiceError as exc:
            add_service_error(form, exc, default_field="decision")
        else:
            flash(
                "Approved."
                if item.status == "approved"
                else "Changes requested: the sponsor sees your comment on the trial page.",
                "success",
            )
            return redirect(url_for("review.queue"))
    version = offer = None
    report = None
    if item.kind == "summary":
        version = db.session.get(SummaryVersion, item.object_id)
        report = summaries_service.report_for(version) if version else None
    elif item.kind == "participant_offer":
        offer = db.session.get(ParticipantOffer, item.object_id)
    return render_template(
        "review/submission.html",
        item=item,
        trial=trial,
        form=form,
        version=version,
        report=report,
        offer=offer,
        entries=review_service.claimed_entries(item) if item.kind in ("deferral", "waiver") else [],
        history=review_service.submissions_for_trial(item.trial_id, item.kind),
        comments=review_service.comments_for_trial(item.trial_id),
        versions=summaries_service.versions_for(item.trial_id) if item.kind == "summary" else [],
        obligations=queries.obligations_for(trial),
        status_labels=queries.STATUS_LABELS,
        kinds=review_service.KIND_LABELS,
        submission_labels=review_service.STATUS_LABELS,
        version_labels=summaries_service.VERSION_STATUS_LABELS,
        offer_labels=summaries_service.OFFER_STATUS_LABELS,
        methods=summaries_service.METHODS,
        audiences=summaries_service.AUDIENCES,
        describe=review_service.describe,
        organisation=db.session.get(Organisation, item.organisation_id)
        if item.organisation_id
        else None,
    )


@bp.route("/jargon", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def jargon():
    from portal.domain.summaries import readability
    from portal.models import JargonTerm
    from portal.services import summaries as summaries_service
    from portal.summaries.forms import JargonForm

    form = JargonForm()
    if form.validate_on_submit():
        try:
            summaries_service.add_jargon_term(current_user, form.term.data, form.plain.data or "")
        except ServiceError as exc:
            add_service_error(form, exc, default_field="term")
        else:
            flash("Added. Every summary's report now flags it.", "success")
            return redirect(url_for("review.jargon"))
    added = db.session.execute(sa.select(JargonTerm).order_by(JargonTerm.term)).scalars().all()
    return render_template(
        "review/queue_jargon.html",
        form=form,
        added=added,
        starter=sorted(readability.starter_jargon().items()),
    )


@bp.route("/samples", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def samples():
    from portal.audit_log.forms import SampleForm
    from portal.models import AuditSample, AuditSampleItem
    from portal.services import review as review_service

    form = SampleForm()
    if form.validate_on_submit():
        try:
            sample = review_service.draw_sample(current_user, form.size.data)
        except ServiceError as exc:
            add_service_error(form, exc, default_field="size")
        else:
            flash(f"Sample drawn: {sample.size} requested.", "success")
            return redirect(url_for("review.sample", sample_id=sample.id))
    done = sa.func.count(AuditSampleItem.finding)
    rows = db.session.execute(
        sa.select(AuditSample, sa.func.count(AuditSampleItem.id), done)
        .outerjoin(AuditSampleItem, AuditSampleItem.sample_id == AuditSample.id)
        .group_by(AuditSample.id)
        .order_by(AuditSample.drawn_at.desc(), AuditSample.id.desc())
        .limit(100)
    ).all()
    return render_template("review/samples.html", form=form, rows=rows)


@bp.route("/samples/<int:sample_id>")
@access.roles("reviewer", "admin")
def sample(sample_id: int):
    from portal.audit_log.forms import FindingForm
    from portal.models import AuditSample, AuditSampleItem, Obligation, Trial, User
    from portal.services import review as review_service
    from portal.trials import queries

    row = db.get_or_404(AuditSample, sample_id)
    items = db.session.execute(
        sa.select(AuditSampleItem, Trial, Obligation, Organisation.name)
        .join(Trial, Trial.id == AuditSampleItem.trial_id)
        .outerjoin(
            Obligation,
            sa.and_(
                Obligation.trial_id == AuditSampleItem.trial_id,
                Obligation.duty == AuditSampleItem.duty,
            ),
        )
        .outerjoin(Organisation, Organisation.id == Trial.owner_organisation_id)
        .where(AuditSampleItem.sample_id == row.id)
        .order_by(AuditSampleItem.id)
    ).all()
    return render_template(
        "review/samples_detail.html",
        sample=row,
        drawn_by=db.session.get(User, row.drawn_by_id) if row.drawn_by_id else None,
        items=items,
        forms={i.id: FindingForm(prefix=f"f{i.id}", formdata=None) for i, *_ in items},
        findings=review_service.FINDINGS,
        status_labels=queries.STATUS_LABELS,
    )


@bp.route("/samples/<int:sample_id>/items/<int:item_id>", methods=["POST"])
@access.roles("reviewer", "admin")
def sample_finding(sample_id: int, item_id: int):
    from portal.audit_log.forms import FindingForm
    from portal.models import AuditSampleItem
    from portal.services import review as review_service

    item = db.session.get(AuditSampleItem, item_id)
    if item is None or item.sample_id != sample_id:
        abort(404)
    form = FindingForm(prefix=f"f{item.id}")
    if form.validate_on_submit():
        try:
            review_service.record_finding(
                current_user, item.id, form.finding.data, form.notes.data or ""
            )
        except ServiceError as exc:
            flash(exc.message, "info")
        else:
            flash(f"Finding saved for {item.duty} of trial {item.trial_id}.", "success")
    else:
        errors = [message for messages in form.errors.values() for message in messages]
        flash("Finding not saved: " + " ".join(errors), "info")
    return redirect(url_for("review.sample", sample_id=sample_id) + f"#item-{item_id}")
