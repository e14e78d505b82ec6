"""Property-based fuzzing (hypothesis) of the forms, uploads and the importer: whatever a person
or a file throws at them, the answer is never a 5xx and nothing is half-written."""

from __future__ import annotations

import io

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.extensions import db
from portal.models import AuditEvent, SponsorFact, StoredFile, SummaryVersion, User
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD, OrganisationFactory, member, trial

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
text = st.text(max_size=300)
junk = st.one_of(
    text,
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "31",
            "2026",
            "9999999999",
            "<script>",
            "'; DROP TABLE users; --",
            "\x00",
            "١٢",
            "2026-02-30",
        ]
    ),
)


def _post(client, url: str, data: dict) -> int:
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}).status_code


@FUZZ
@given(full_name=junk, email=junk, password=junk, confirm=junk)
def test_register_never_fails_and_never_half_registers(client, full_name, email, password, confirm):
    client.application.config["LOGIN_RATE_LIMIT"] = "1000 per minute"  # fuzz the form, not 429
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    status = _post(
        client,
        "/register",
        {"full_name": full_name, "email": email, "password": password, "confirm_password": confirm},
    )
    assert status < 500
    after = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    assert after in (before, before + 1)
    if after == before + 1:  # a user was created: so was its audit event
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "user.registered")
            )
            == after
        )
    client.delete_cookie("session")  # start each example signed out


@FUZZ
@given(email=junk, password=junk)
def test_login_never_fails(client, email, password):
    client.application.config["LOGIN_RATE_LIMIT"] = "1000 per minute"  # fuzz the form, not 429
    assert _post(client, "/login", {"email": email, "password": password}) < 500


@FUZZ
@given(
    day=junk,
    month=junk,
    year=junk,
    iras=junk,
    early=st.sampled_from(["", "y", "on", "garbage"]),
    day2=junk,
)
# found by this test: a year or day too big for a C int overflowed date() (a 500)
@example(day="", month="0", year="2200000000", iras="", early="", day2="0")
@example(day="99999999999", month="1", year="2026", iras="", early="", day2="1")
def test_trial_facts_form_never_fails_and_writes_all_or_nothing(
    browser, day, month, year, iras, early, day2
):
    user, t = _sponsor_with_trial(browser)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(SponsorFact))
    audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    status = _post(
        browser.client,
        f"/trials/{t}/facts",
        {
            "approved_on": [day, month, year],
            "application_submitted_on": [day2, month, year],
            "iras_id": iras,
            "early_termination": early,
        },
    )
    assert status < 500
    after = db.session.scalar(sa.select(sa.func.count()).select_from(SponsorFact))
    new_audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert (after == before) == (new_audits == audits), "facts and their audit event go together"


@FUZZ
@given(content=st.binary(max_size=4000), name=st.text(max_size=40))
def test_summary_upload_never_fails_and_stores_file_and_row_together(browser, content, name):
    _user, t = _sponsor_with_trial(browser)
    files = db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile))
    versions = db.session.scalar(sa.select(sa.func.count()).select_from(SummaryVersion))
    url = f"/trials/{t}/summaries/new"
    token = csrf_token_from(browser.client.get(url).get_data(as_text=True))
    status = browser.client.post(
        url,
        data={"csrf_token": token, "file": (io.BytesIO(content), name or "x")},
        content_type="multipart/form-data",
    ).status_code
    assert status < 500
    new_files = db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile))
    new_versions = db.session.scalar(sa.select(sa.func.count()).select_from(SummaryVersion))
    # No stored file without its version row (identical bytes share one file, so a new
    # version may reuse an existing file).
    assert 0 <= new_files - files <= new_versions - versions <= 1


@FUZZ
@given(content=st.binary(max_size=3000))
def test_importer_rejects_any_bytes_with_a_reason_and_never_crashes(app, tmp_path_factory, content):
    from portal.services.imports import import_paths

    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "record.bin"
    path.write_bytes(content)
    _run, report = import_paths([str(path)])
    assert report["records_seen"] == (
        report["created"]
        + report["updated"]
        + report["unchanged"]
        + report["merged"]
        + len(report["rejected"])
    )
    for rejected in report["rejected"]:
        assert rejected["reason"]


@FUZZ
@given(
    prefix=st.sampled_from(
        [
            b'{"protocolSection": ',
            b"<clinical_study>",
            b"ISRCTN,Basic results\n",
            b"<Trials_downloaded_from_ICTRP><Trial>",
            b'[{"protocolSection"',
        ]
    ),
    tail=st.binary(max_size=2000),
)
def test_importer_survives_broken_files_of_every_known_format(app, tmp_path_factory, prefix, tail):
    from portal.models import RegistryEntry, Trial
    from portal.services.imports import import_paths

    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "broken").write_bytes(prefix + tail)
    import_paths([str(folder)])
    orphans = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Trial)
        .where(~sa.exists().where(RegistryEntry.trial_id == Trial.id))
    )
    assert orphans == 0, "a trial without any registry entry is half-written"


def _sponsor_with_trial(browser):
    """One sponsor and one owned trial per test (hypothesis reuses the function's fixtures)."""
    if not hasattr(browser, "fuzz_state"):
        org = OrganisationFactory()
        user = member("sponsor", org)
        t = trial(owner=org)
        browser.login(user.email, PASSWORD)
        browser.fuzz_state = (user.id, t.id)
    user_id, trial_id = browser.fuzz_state
    assert browser.client.get(f"/trials/{trial_id}").status_code == 200
    return user_id, trial_id
