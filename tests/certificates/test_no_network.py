"""Rendering fetches nothing from the network: every user-controlled field carries remote URLs,
a tiny local HTTP server counts the requests, and there must be none."""

from __future__ import annotations

import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.extensions import db
from portal.models import BackgroundJob, Organisation, RegistryEntry, SponsorFact, Trial
from tests.certificates.helpers import certificate_rows, obligation, pdf_text, request_certificate
from tests.factories import PASSWORD, OrganisationFactory, member
from workers.pdf_render import STATIC_DIR, PortalAssetFetcher, RefusedURL, html_to_pdf


@pytest.fixture
def counting_server():
    """An HTTP server on 127.0.0.1 that records every request it gets."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()
    thread.join(5)


def hostile(base: str, field: str) -> str:
    """Text that would fetch ``base`` if it were ever treated as markup or CSS."""
    return (
        f'<img src="{base}/{field}.png"> <link rel="stylesheet" href="{base}/{field}.css">'
        f" url({base}/{field}-url.png) <style>@import url({base}/{field}-import.css);</style>"
        f'<svg><image href="{base}/{field}.svg"/></svg>'
    )


def test_no_request_leaves_the_machine_whatever_users_typed(browser, work, counting_server):
    base, hits = counting_server
    org = OrganisationFactory(name=hostile(base, "organisation")[:200])
    user = member("compliance_officer", org, full_name=hostile(base, "user")[:200])
    browser.login(user.email, PASSWORD)
    t = Trial(
        title=hostile(base, "title"),
        sponsor_name=hostile(base, "sponsor")[:500],
        owner_organisation_id=org.id,
        imported_facts={"title": {"value": hostile(base, "fact"), "registry": "x", "record": "y"}},
    )
    db.session.add(t)
    db.session.flush()
    db.session.add(
        RegistryEntry(
            trial_id=t.id,
            registry_name="ISRCTN",
            registry_id="ISRCTN00000001",
            registered_on=date(2026, 5, 1),
            url=f"{base}/registry-record",
            content_hash="0" * 64,
            record={},
        )
    )
    db.session.add(
        SponsorFact(
            trial_id=t.id, key="iras_id", value=hostile(base, "sponsor-fact"), entered_by_label="x"
        )
    )
    db.session.commit()
    obligation(
        t,
        "UK-RES",
        "overdue",
        explanation=hostile(base, "explanation"),
        inputs={"iras_id": {"value": hostile(base, "input"), "source": hostile(base, "source")}},
        source=hostile(base, "citation"),
        missing=[hostile(base, "missing")],
    )
    trial_id = t.id

    request_certificate(browser, trial_id)
    response = browser.submit("/reports", {"organisation": str(org.id)})
    assert response.status_code == 302
    work()

    [cert] = certificate_rows()
    assert cert.status == "ready"
    text = pdf_text(browser.get(f"/certificates/{cert.id}/certificate.pdf").get_data())
    assert f'<img src="{base}/title.png">' in text  # printed as text, not loaded
    assert f"{base}/registry-record" in text.replace(" ", "")  # printed, maybe wrapped
    report_job = db.session.query(BackgroundJob).filter_by(kind="report").one()
    assert report_job.status == "finished", report_job.error
    text = pdf_text(browser.get(f"/reports/{report_job.id}/report.pdf").get_data())
    assert f'<img src="{base}/title.png">' in text and f"url({base}/organisation-url.png)" in text
    assert db.session.get(Organisation, org.id).name[:20] in text
    assert hits == []


def test_even_raw_markup_cannot_make_the_renderer_fetch_anything(counting_server):
    """The second wall: were a template ever to emit markup unescaped, the fetcher refuses."""
    base, hits = counting_server
    fetcher = PortalAssetFetcher()
    html = (
        "<html lang='en'><head><title>t</title>"
        f"<link rel='stylesheet' href='{base}/a.css'>"
        f"<style>@import url({base}/b.css);"
        f" @font-face {{ font-family: x; src: url({base}/f.woff) }}"
        f" body {{ background: url({base}/bg.png); font-family: x }}</style></head><body>"
        f"<img src='{base}/i.png'><object data='{base}/o.svg'></object>"
        "<img src='file:///etc/passwd'><img src='ftp://127.0.0.1/x'>"
        f"<img src='file://{STATIC_DIR}/../../pyproject.toml'>"
        "<svg width='10' height='10'><image href='https://example.org/x.png'/></svg>"
        "<p>text</p></body></html>"
    )
    pdf = html_to_pdf(html, identifier="raw", fetcher=fetcher)
    assert pdf.startswith(b"%PDF-")
    assert hits == []
    assert len(fetcher.refused) >= 8
    assert any("passwd" in url for url in fetcher.refused)
    assert any("pyproject.toml" in url for url in fetcher.refused)


def test_the_fetcher_serves_only_bundled_files_and_data_urls():
    fetcher = PortalAssetFetcher()
    css = fetcher.fetch((STATIC_DIR / "pdf" / "certificate.css").as_uri())
    assert css.content_type == "text/css" and b"@page" in css.read()
    data = fetcher.fetch("data:text/plain;base64,aGVsbG8=")
    assert data.read() == b"hello"
    for url in (
        "http://127.0.0.1/x",
        "https://example.org/x.css",
        "file:///etc/hostname",
        "file://otherhost/portal/static/pdf/certificate.css",
        (STATIC_DIR / "pdf" / "missing.css").as_uri(),
        "gopher://x",
        "//example.org/x",
    ):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
