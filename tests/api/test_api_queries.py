"""The number of SQL queries of GET /api/v1/trials does not grow with the portfolio: the same for
6 trials as for 60, on the first page and on a cursor page (bench/api.py times 5,000)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.timeutil import today
from tests.api.helpers import bearer, token_for, verdict
from tests.factories import OrganisationFactory, member, trial


def _counts(client, h, org, n) -> list[int]:
    for i in range(n):
        t = trial(title=f"Trial {i}", owner=org)
        verdict(t, status="overdue", due=today() - timedelta(days=i + 1))
        verdict(t, duty="UK-REG", status="met")
    client.get("/api/v1/trials?limit=3", headers=h)  # warm: last-used written at most once
    first = client.get("/api/v1/trials?limit=3", headers=h).json
    urls = [
        "/api/v1/trials?limit=3",
        f"/api/v1/trials?limit=3&cursor={first['next_cursor']}",
        "/api/v1/trials?limit=3&status=overdue&q=trial",
        "/api/v1/obligations?limit=3",
    ]
    queries: list[str] = []

    def listen(*a):
        queries.append(a[2])

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        counts = []
        for url in urls:
            queries.clear()
            response = client.get(url, headers=h)
            assert response.status_code == 200 and len(response.json["items"]) == 3, url
            counts.append(len(queries))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    return counts


def test_sql_queries_do_not_grow_with_the_portfolio(app, client):
    small_org, big_org = OrganisationFactory(), OrganisationFactory()
    small = _counts(
        client, bearer(token_for(member("compliance_officer", small_org))), small_org, 6
    )
    big = _counts(client, bearer(token_for(member("compliance_officer", big_org))), big_org, 60)
    assert small == big, (small, big)
    assert max(big) <= 6, big  # token + user, one page of trials, their verdicts, their entries
