"""The daily recompute: a real RQ worker runs workers.obligations.recompute_all, statuses move
with the date, progress lands on the BackgroundJob row; the command line runs or enqueues it."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.jobs import enqueue
from portal.models import BackgroundJob, ObligationStatusChange
from portal.services.obligations import newly_changed, recompute_for_trials
from tests.obligations.helpers import d, history, make_trial, obligations
from workers.obligations import recompute_all, recompute_everything

IMPORTED = {"study_type": "interventional", "countries": ["United Kingdom"]}


def trials(n: int) -> list[int]:
    """n trials whose end of trial notice (UK-END) falls due on 2027-05-01 + i days."""
    ids = []
    for i in range(n):
        trial = make_trial(
            IMPORTED,
            [],
            {"application_submitted_on": "2026-05-01", "approved_on": "2026-06-01",
             "end_of_trial_on": f"2027-01-{1 + i:02d}"},
            registry_id=f"NCT{i:08d}",
        )  # fmt: skip
        ids.append(trial.id)
    recompute_for_trials(ids, reason="import", as_of=d("2027-02-01"))
    db.session.commit()
    return ids


def test_the_daily_job_in_a_real_worker_moves_statuses_with_the_date(app, run_jobs):
    ids = trials(5)
    assert {obligations(i)["UK-END"].status for i in ids} == {"upcoming"}
    job = BackgroundJob(kind="obligations.recompute", params={"reason": "daily"})
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    enqueue(recompute_all, "2027-04-05", job_id, "daily", job_id=job_id)
    run_jobs()

    job = db.session.get(BackgroundJob, job_id)
    assert job.status == "finished" and job.progress == 100
    assert job.result["trials"] == 5 and job.result["as_of"] == "2027-04-05"
    # UK-END due 2027-04-01 + i: the first four are overdue, the last due soon
    statuses = [obligations(i)["UK-END"].status for i in ids]
    assert statuses == ["overdue"] * 4 + ["due_soon"]
    assert [c.reason for c in history(ids[0], "UK-END")] == ["import", "daily"]
    assert len(newly_changed(d("2027-04-05"))) == 4

    # the next day only the last one changes status (due 2027-04-05): one new history row
    count = db.session.execute(sa.select(sa.func.count(ObligationStatusChange.id))).scalar()
    enqueue(recompute_all, "2027-04-06")
    run_jobs()
    assert db.session.execute(sa.select(sa.func.count(ObligationStatusChange.id))).scalar() == (
        count + 1
    )
    assert [c.trial_id for c in newly_changed(d("2027-04-06"))] == [ids[4]]
    # nothing else was rewritten: the verdicts hold no day counts, which are worked out when shown
    assert obligations(ids[0])["UK-END"].as_of == d("2027-04-05")
    assert obligations(ids[0])["UK-END"].days_overdue_on(d("2027-04-06")) == 5


def test_recompute_all_in_chunks_and_over_an_id_range(app):
    ids = trials(5)
    result = recompute_everything("2027-04-05", chunk=2)
    assert (result["trials"], result["status_changes"]) == (5, 5)
    # the next day: every trial is evaluated again, only the one whose status moved is written
    result = recompute_everything("2027-04-06", chunk=2)
    assert (result["trials"], result["status_changes"], result["updated"]) == (5, 1, 1)
    result = recompute_everything("2027-02-10", after_id=ids[1], last_id=ids[3])
    assert (result["trials"], result["status_changes"]) == (2, 2)
    assert obligations(ids[4])["UK-END"].status == "overdue"  # outside the range
    assert obligations(ids[2])["UK-END"].status == "upcoming"
    assert obligations(ids[2])["UK-END"].as_of == d("2027-02-10")


def test_the_command_runs_it_in_process_or_enqueues_it(app, run_jobs):
    ids = trials(2)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["obligations", "recompute-all", "--as-of", "2027-04-05"])
    assert result.exit_code == 0, result.output
    assert "Recomputed 2 trials as of 2027-04-05" in result.output
    assert obligations(ids[0])["UK-END"].status == "overdue"

    result = runner.invoke(args=["obligations", "recompute-all", "--as-of", "2027-13-01"])
    assert result.exit_code == 2 and "--as-of" in result.stderr

    in_process = db.session.execute(sa.select(BackgroundJob)).scalar_one()
    assert (in_process.status, in_process.params["reason"]) == ("finished", "daily")

    result = runner.invoke(args=["obligations", "recompute-all", "--enqueue"])
    assert result.exit_code == 0, result.output
    assert "Recompute queued" in result.output
    job_id = result.output.split("(job ")[1].rstrip(").\n")
    run_jobs()
    job = db.session.get(BackgroundJob, job_id)
    assert job.status == "finished" and job.result["trials"] == 2


def test_the_cron_command_registers_the_daily_job(app, monkeypatch):
    from rq.cron import CronScheduler

    started = {}
    monkeypatch.setattr(CronScheduler, "start", lambda self: started.update(jobs=self.get_jobs()))
    result = app.test_cli_runner().invoke(args=["obligations", "cron"])
    assert result.exit_code == 0, result.output
    # The same scheduler also runs the notifications, registry sync and tracker jobs (their
    # own tests); this one is the daily recompute.
    (cron_job,) = [job for job in started["jobs"] if job.name == "obligations-daily-recompute"]
    assert cron_job.func is recompute_all
    assert cron_job.cron == "15 2 * * *" and cron_job.queue_name == "default"
    assert cron_job.kwargs == {"reason": "daily"}


def test_a_full_recompute_settles_a_recompute_that_could_not_be_enqueued(app):
    from datetime import timedelta

    from portal.timeutil import utcnow

    waiting = BackgroundJob(
        kind="obligations.recompute",
        params={"reason": "params"},
        enqueued=False,
        created_at=utcnow() - timedelta(hours=1),
    )
    db.session.add(waiting)
    db.session.commit()
    waiting_id = waiting.id
    trials(1)
    recompute_everything("2027-04-05")
    job = db.session.get(BackgroundJob, waiting_id)
    assert (job.status, job.progress) == ("finished", 100)
    assert "recompute of every trial as of 2027-04-05" in job.message


def test_a_big_recompute_is_shared_between_workers_and_adds_up(app, run_jobs, monkeypatch):
    """Over FAN_OUT_MIN_TRIALS trials the job splits into RECOMPUTE_PARTS id ranges, each its
    own RQ job, and a last job adds their results up on the one BackgroundJob."""
    import workers.obligations as daily

    monkeypatch.setattr(daily, "FAN_OUT_MIN_TRIALS", 5)
    monkeypatch.setitem(app.config, "RECOMPUTE_PARTS", 3)
    ids = trials(7)
    job = BackgroundJob(kind="obligations.recompute", params={"reason": "daily"})
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    enqueue(recompute_all, "2027-04-05", job_id, "daily", job_id=job_id)
    run_jobs()

    from rq import Queue
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    from portal.jobs import redis_connection

    conn = redis_connection()
    registry = FinishedJobRegistry(queue=Queue("default", connection=conn))
    names = [Job.fetch(i, connection=conn).func_name for i in registry.get_job_ids()]
    assert names.count("workers.obligations.recompute_part") == 3
    assert names.count("workers.obligations.finish_recompute") == 1

    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert (job.status, job.progress) == ("finished", 100)
    assert job.result["trials"] == 7 and job.result["parts"] == 3
    assert job.result["as_of"] == "2027-04-05"
    assert job.result["updated"] > 0 and job.result["status_changes"] == 7  # 4 + 3 below
    statuses = [obligations(i)["UK-END"].status for i in ids]
    assert statuses == ["overdue"] * 4 + ["due_soon"] * 3


def test_a_part_that_fails_fails_the_shared_recompute_with_its_reason(app, run_jobs, monkeypatch):
    import workers.obligations as daily

    monkeypatch.setattr(daily, "FAN_OUT_MIN_TRIALS", 5)
    monkeypatch.setitem(app.config, "RECOMPUTE_PARTS", 3)
    real = daily.recompute_everything

    def flaky(as_of_iso, job_id, reason, after_id, last_id, *args, **kwargs):
        if after_id > 0 and last_id == max(ids):
            raise RuntimeError("disk full")
        return real(as_of_iso, job_id, reason, after_id, last_id, *args, **kwargs)

    monkeypatch.setattr(daily, "recompute_everything", flaky)
    ids = trials(7)
    job = BackgroundJob(kind="obligations.recompute", params={"reason": "daily"})
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    enqueue(recompute_all, "2027-04-05", job_id, "daily", job_id=job_id, retry=None)
    run_jobs()

    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert job.status == "failed" and "disk full" in job.error
    assert job.message == "1 of 3 parts failed; run it again"
    # the parts that ran kept their work (each chunk commits): the last range did not move
    statuses = [obligations(i)["UK-END"].status for i in ids]
    assert statuses[:6] == ["overdue"] * 4 + ["due_soon"] * 2 and statuses[6] == "upcoming"


def test_a_recompute_whose_parts_cannot_be_queued_says_so(app, run_jobs, monkeypatch):
    """Redis going away between the parts must not leave the recompute "in progress" forever."""
    import redis

    import workers.obligations as daily

    monkeypatch.setattr(daily, "FAN_OUT_MIN_TRIALS", 5)

    def unreachable(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(daily, "_enqueue_finish", unreachable)
    trials(6)
    job = BackgroundJob(kind="obligations.recompute", params={"reason": "daily"})
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    enqueue(recompute_all, "2027-04-05", job_id, "daily", job_id=job_id, retry=None)
    run_jobs()  # the worker's job fails, and says why on the BackgroundJob
    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert job.status == "failed" and "Connection refused" in job.error
    assert job.finished_at is not None


def test_a_recompute_left_waiting_is_done_by_the_next_full_run_unless_it_was_from_records(app):
    """A recompute whose enqueueing failed (Redis down) waits as "queued"; the next full run
    does its work and closes it, but a run from the stored facts does not do what a waiting
    ``--from-records`` run asked for, so that one stays waiting."""
    trials(2)
    plain = BackgroundJob(kind="obligations.recompute", params={"reason": "daily"})
    rebuild = BackgroundJob(
        kind="obligations.recompute", params={"reason": "daily", "from_records": True}
    )
    db.session.add_all([plain, rebuild])
    db.session.commit()
    plain_id, rebuild_id = plain.id, rebuild.id
    recompute_everything("2027-04-05")
    db.session.expire_all()
    assert db.session.get(BackgroundJob, plain_id).status == "finished"
    assert db.session.get(BackgroundJob, rebuild_id).status == "queued"
    recompute_everything("2027-04-05", from_records=True)
    db.session.expire_all()
    assert db.session.get(BackgroundJob, rebuild_id).status == "finished"
