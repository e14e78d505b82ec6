"""Command-line tools: ``flask worker``, ``flask demo load``, ``flask audit verify``, ..."""

from __future__ import annotations

import gc

import click
from flask import Flask, current_app
from flask.cli import AppGroup


def register(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(demo)
    app.cli.add_command(audit)
    app.cli.add_command(outbox)
    app.cli.add_command(__import__("portal.rules_cli", fromlist=["obligations"]).obligations)
    app.cli.add_command(__import__("portal.trials.cli", fromlist=["trials"]).trials)
    app.cli.add_command(__import__("portal.certificates.cli", fromlist=["jobs"]).jobs)
    app.cli.add_command(
        __import__("portal.notifications.cli", fromlist=["notifications"]).notifications
    )
    app.cli.add_command(__import__("portal.imports.sync_cli", fromlist=["registries"]).registries)
    app.cli.add_command(__import__("portal.api.cli", fromlist=["tokens"]).tokens)  # issue 21
    app.cli.add_command(__import__("portal.tracker.cli", fromlist=["tracker"]).tracker)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--queue", "queues", multiple=True, help="Queue to listen on (repeatable); default all."
)
@click.option("--name", default=None, help="Worker name (unique per Redis).")
def worker_command(burst: bool, queues: tuple[str, ...], name: str | None) -> None:
    """Run an RQ worker for the portal's queues."""
    from rq import Worker

    # Load WeasyPrint (about a second) once, before RQ forks a work-horse per job, so each
    # certificate starts warm. Web processes never import it: they only enqueue.
    import workers.pdf_render  # noqa: F401
    from portal.jobs import ALL_QUEUES, redis_connection

    conn = redis_connection()
    # An idle RQ worker beats only when its wait for a job times out, after worker_ttl - 15 s
    # (405 s by default), so /healthz saw a healthy idle worker as dead. Wait at most one
    # heartbeat interval instead, and beat as often while a job runs.
    heartbeat = current_app.config["WORKER_HEARTBEAT_SECONDS"]
    worker = Worker(
        list(queues or ALL_QUEUES),
        connection=conn,
        name=name,
        worker_ttl=heartbeat + 15,
        job_monitoring_interval=heartbeat,
    )
    # Everything loaded so far lives as long as the worker: keep it out of the collector's
    # sight, so a full collection in a work-horse (it walks every object) does not land in the
    # middle of a render.
    gc.collect()
    gc.freeze()
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


demo = AppGroup("demo", help="Demo data for local runs.")


@demo.command("load")
@click.option(
    "--no-logins", is_flag=True, help="Print only the line about the trials (for `make run`)."
)
def demo_load(no_logins: bool) -> None:
    """Create the demo organisations and one user per role (safe to run twice)."""
    from portal.demo import DEMO_PASSWORD, load_demo, load_demo_trials

    users = load_demo()
    click.echo(load_demo_trials())
    if no_logins:
        return
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for role, email in users.items():
        click.echo(f"  {role:<20} {email}")


audit = AppGroup("audit", help="The tamper-evident audit trail.")


@audit.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; name the first event that was changed or removed."""
    from portal.services.audit import verify_chain

    report = verify_chain()
    if report.ok:
        click.echo(f"Audit trail intact: {report.checked} events checked.")
        return
    click.echo(
        f"Audit trail BROKEN at event {report.first_bad_id}: {report.problem} "
        f"({report.checked} events before it are intact).",
        err=True,
    )
    raise SystemExit(1)


outbox = AppGroup("outbox", help="Outgoing email.")


@outbox.command("sweep")
def outbox_sweep() -> None:
    """Enqueue delivery of every email still queued (for example after Redis was down)."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.jobs import QUEUE_MAIL, enqueue
    from portal.models import OutboxEmail
    from workers.mail import deliver_email

    ids = (
        db.session.execute(sa.select(OutboxEmail.id).where(OutboxEmail.status == "queued"))
        .scalars()
        .all()
    )
    for email_id in ids:
        enqueue(deliver_email, email_id, queue_name=QUEUE_MAIL)
    target = current_app.config["MAIL_URL"] or "outbox only"
    click.echo(f"{len(ids)} emails enqueued for delivery ({target}).")
