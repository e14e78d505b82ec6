"""/admin/parameters shows each value as text, not as escaped markup, and after a change the
recompute notice says once, in words, where the job stands (issue 16). Read from the page's raw
HTML: unescaping it first would hide markup shown as text."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import BackgroundJob
from tests.factories import PASSWORD, staff
from tests.obligations.test_parameters import URL, VALUES, end_notice_trial


@pytest.fixture
def admin(browser):
    user = staff("admin")
    browser.login(user.email, PASSWORD)
    return user


def _main(page: str) -> str:
    return page.split("<main", 1)[1].split("</main>", 1)[0]


def _visible_text(fragment: str) -> str:
    return re.sub(r"<[^>]+>", " ", fragment)


def test_each_value_is_shown_as_text_not_as_markup(browser, admin):
    page = _main(browser.get(URL).get_data(as_text=True))
    assert "&lt;" not in page and "&gt;" not in page, re.findall(r".{40}&lt;.{40}", page)[:3]
    lists = page.split('class="govuk-summary-list', 1)[1].split("</dl>", 1)[0]
    text = _visible_text(lists)
    assert "30 days" in text and "10 years" in text and "Yes" in text
    assert "~" not in text
    assert '<p class="govuk-body govuk-!-font-weight-bold' in lists  # real markup, once a value


def test_after_saving_the_recompute_notice_is_plain_words(browser, admin, monkeypatch):
    import portal.services.parameters as parameters

    end_notice_trial()
    monkeypatch.setattr(parameters, "INLINE_RECOMPUTE_LIMIT", 0)  # the job is left queued
    response = browser.submit(URL, {**VALUES, "due_soon_days": "45", "note": "check"})
    assert response.status_code == 302
    assert db.session.execute(sa.select(BackgroundJob)).scalar_one().status == "queued"
    page = _main(browser.get(URL).get_data(as_text=True))
    assert "&lt;" not in page
    inset = page.split('class="govuk-inset-text"', 1)[1].split("</div>", 1)[0]
    assert "<strong>" in inset  # markup, not text
    words = " ".join(_visible_text(inset).split())
    assert words.lower().count("waiting for a worker") == 1, words
    assert "Recomputing every trial's obligations with the new parameters" in words
    assert "params" not in words
