"""The portfolio trend from day one (issue 18): worked out from the verdicts (due and met dates),
so a fresh import with no status history shows 24 months; the chart partial has its table."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from flask import render_template_string
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.obligations.trend import (
    SERIES,
    month_ends,
    monthly_trend,
    points_from,
    status_on,
)
from tests.certificates.helpers import obligation
from tests.factories import OrganisationFactory, trial

AS_OF = date(2026, 12, 4)


def test_month_ends_are_24_months_up_to_today():
    ends = month_ends(AS_OF)
    assert len(ends) == 24
    assert ends[0] == (date(2025, 1, 1), date(2025, 1, 31))
    assert ends[-2] == (date(2026, 11, 1), date(2026, 11, 30))
    assert ends[-1] == (date(2026, 12, 1), AS_OF)  # the current month is counted up to today


def test_a_duty_is_upcoming_then_due_soon_then_overdue_then_met():
    due, met = date(2026, 3, 31), date(2026, 6, 10)
    assert status_on(date(2026, 1, 31), "met_late", due, met) == "upcoming"
    assert status_on(date(2026, 3, 15), "met_late", due, met) == "due_soon"
    assert status_on(date(2026, 4, 30), "met_late", due, met) == "overdue"
    assert status_on(date(2026, 6, 30), "met_late", due, met) == "met"
    assert status_on(date(2026, 6, 30), "not_applicable", None, None) is None
    assert status_on(date(2026, 6, 30), "deferred", due, None) == "deferred"
    assert status_on(date(2025, 1, 31), "data_needed", due, None) == "data_needed"


def test_points_count_every_duty_at_each_month_end():
    groups = [
        ("overdue", date(2026, 6, 30), None, 3),  # three duties due 30 June 2026, still unmet
        ("met", date(2025, 12, 31), date(2025, 11, 1), 2),  # met early
        ("upcoming", date(2027, 6, 30), None, 1),
    ]
    points = points_from(groups, AS_OF)
    by_month = {p.label: p for p in points}
    assert by_month["May 2026"].overdue == 0 and by_month["June 2026"].due_soon == 3
    assert by_month["July 2026"].overdue == 3
    assert by_month["October 2025"].upcoming == 6 and by_month["November 2025"].met == 2
    assert all(p.total == 6 for p in points)


def test_a_fresh_import_without_history_has_24_months_of_trend(app):
    org = OrganisationFactory()
    t = trial(owner=org)
    obligation(t, "UK-REG", "met", due=date(2026, 5, 10), met_on="2026-05-01")
    obligation(t, "UK-RES", "overdue", due=date(2026, 9, 30))
    obligation(t, "UK-END", "upcoming", due=date(2027, 1, 20))
    other = trial(owner=OrganisationFactory())
    obligation(other, "UK-RES", "overdue", due=date(2026, 1, 1))
    points = monthly_trend(org.id, AS_OF)
    assert len(points) == 24
    assert [p.total for p in points] == [3] * 24  # the other organisation's duty is not counted
    last = points[-1]
    assert (last.overdue, last.met, last.upcoming) == (1, 1, 1)
    april = next(p for p in points if p.label == "April 2026")
    assert (april.met, april.due_soon, april.upcoming) == (0, 1, 2)


def test_the_partial_draws_a_chart_with_a_table_for_screen_readers(app):
    points = points_from([("overdue", date(2026, 6, 30), None, 2)], AS_OF)
    with app.test_request_context():
        html = render_template_string(
            '{% include "components/_trend.html" %}', trend=points, trend_heading="h3"
        )
    assert '<svg class="app-trend__chart" role="img"' in html
    assert (
        'aria-label="Bar chart: From January 2025 to December 2026, overdue duties went from 0 to 2'
        in html
    )
    assert "govuk-visually-hidden" in html  # the table is there for screen readers
    rows = re.findall(r'<th scope="row" class="govuk-table__header">([^<]+)</th>', html)
    assert rows[0] == "January 2025" and rows[-1] == "December 2026" and len(rows) == 24
    assert "Overdue (2)" in html and "<h3" in html
    assert "style=" not in html  # the pages' CSP forbids inline styles


STATUSES = ("overdue", "met", "met_late", "upcoming", "due_soon", "data_needed", "deferred")
STATUSES += ("waived", "not_applicable")
DAYS = st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31))


@given(
    st.lists(
        st.tuples(st.sampled_from(STATUSES), st.none() | DAYS, st.none() | DAYS, st.integers(1, 5)),
        max_size=40,
    ),
    DAYS,
)
def test_points_count_as_status_on_says_for_every_month(groups, as_of):
    """The running-sum count agrees with asking status_on for each group on each month end."""
    points = points_from(groups, as_of)
    for point, (_first, day) in zip(points, month_ends(as_of), strict=True):
        expected = Counter()
        for status, due, met_on, count in groups:
            when = status_on(day, status, due, met_on)
            if when is not None:
                expected[when] += count
        got = dict(zip([key for key, _ in SERIES], point.counts(), strict=True))
        assert got == {key: expected[key] for key, _ in SERIES}, (day, groups)
