"""/api/v1/trials and /api/v1/obligations: filters, cursor pages, one trial's facts, sources and
verdicts, problem+json errors, and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

from portal.extensions import db
from portal.models import ObligationInputs
from portal.timeutil import today
from tests.api.helpers import bearer, token_for, verdict
from tests.factories import OrganisationFactory, member, trial


def _portfolio():
    org = OrganisationFactory()
    officer = member("compliance_officer", org)
    overdue = trial(title="Aspirin after stroke", owner=org)
    verdict(overdue, status="overdue", due=today() - timedelta(days=10))
    soon = trial(title="Beta blockers in sepsis", owner=org, sponsor_name="Beta Trust")
    verdict(soon, status="due_soon", due=today() + timedelta(days=20))
    verdict(soon, duty="EU-RES", ruleset="eu-ctr", status="upcoming", due=today() + timedelta(200))
    later = trial(title="Cold water swimming", owner=org)
    verdict(later, status="met")
    trial(title="Someone else's", owner=OrganisationFactory())
    return officer, overdue, soon, later


def test_lists_only_the_organisations_trials_with_filters(app, client):
    officer, overdue, soon, later = _portfolio()
    h = bearer(token_for(officer))
    body = client.get("/api/v1/trials", headers=h).json
    assert [t["id"] for t in body["items"]] == [overdue.id, soon.id, later.id]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["next_duty"]["status"] == "overdue"
    assert first["next_duty"]["status_label"] == "Overdue"
    assert first["registries"][0]["registry"] == "ClinicalTrials.gov"
    assert first["url"] == f"/api/v1/trials/{overdue.id}"

    def ids(query):
        response = client.get("/api/v1/trials?" + query, headers=h)
        assert response.status_code == 200, response.json
        return [t["id"] for t in response.json["items"]]

    assert ids("status=overdue") == [overdue.id]
    assert ids("ruleset=eu-ctr") == [soon.id]
    assert ids("due_within=30") == [overdue.id, soon.id]
    assert ids("due_within=0") == [overdue.id]
    assert ids("q=beta") == [soon.id]
    assert ids("q=" + overdue.identifiers[0].value) == [overdue.id]


def test_cursor_pages_cover_every_trial_once(app, client):
    officer, *_ = _portfolio()
    for n in range(4):
        trial(title=f"More {n}", owner=officer.organisation)
    h = bearer(token_for(officer))
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/trials?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=h).json
        seen += [t["id"] for t in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and len(seen) == 7 and seen == sorted(set(seen))


def test_invalid_query_parameters_are_422_problems(app, client):
    officer, *_ = _portfolio()
    h = bearer(token_for(officer))
    for query in (
        "status=late",
        "ruleset=uk",
        "due_within=-1",
        "due_within=soon",
        "limit=0",
        "limit=101",
        "cursor=abc",
        "q=",
        "q=a%00b",
        "cursor=12345678901",
    ):
        response = client.get("/api/v1/trials?" + query, headers=h)
        assert response.status_code == 422, query
        assert response.content_type == "application/problem+json"
        problem = response.json
        assert problem["status"] == 422 and problem["errors"], query
        assert set(problem) == {"type", "title", "status", "detail", "instance", "errors"}


def test_one_trial_has_facts_sources_and_plain_english_verdicts(app, client):
    officer, overdue, *_ = _portfolio()
    db.session.add(
        ObligationInputs(
            trial_id=overdue.id,
            inputs={
                "end_of_trial_on": {
                    "value": "2025-01-31",
                    "source": "ClinicalTrials.gov NCT1, imported 2026-11-01",
                }
            },
        )
    )
    db.session.commit()
    body = client.get(f"/api/v1/trials/{overdue.id}", headers=bearer(token_for(officer))).json
    assert body["title"] == "Aspirin after stroke"
    assert body["facts"] == [
        {
            "name": "end_of_trial_on",
            "label": "End of trial",
            "value": "2025-01-31",
            "source": "ClinicalTrials.gov NCT1, imported 1 November 2026",
        }
    ]
    assert body["sources"][0]["registry"] == "ClinicalTrials.gov"
    (v,) = body["verdicts"]
    assert v["status"] == "overdue" and v["days_overdue"] == 10
    assert v["explanation"] == (
        "Results were due by 31 January 2026: 12 months after the “End of trial”."
    )
    assert "RULES.md" not in v["citation"] and "S.I. 2025/538" in v["citation"]


def test_another_organisations_trial_is_404_and_unknown_routes_are_problems(app, client):
    officer, *_ = _portfolio()
    foreign = trial(title="Not yours", owner=OrganisationFactory())
    h = bearer(token_for(officer))
    for url in (f"/api/v1/trials/{foreign.id}", "/api/v1/trials/999999", "/api/v1/nothing"):
        response = client.get(url, headers=h)
        assert response.status_code == 404, url
        assert response.content_type == "application/problem+json"
        assert "Not yours" not in response.get_data(as_text=True)
    response = client.delete("/api/v1/trials", headers=h)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.content_type == "application/problem+json"


def test_obligations_across_the_portfolio(app, client):
    officer, overdue, soon, later = _portfolio()
    h = bearer(token_for(officer))
    items = client.get("/api/v1/obligations", headers=h).json["items"]
    assert sorted((o["trial_id"], o["status"]) for o in items) == sorted(
        [(overdue.id, "overdue"), (soon.id, "due_soon"), (soon.id, "upcoming"), (later.id, "met")]
    )
    overdue_only = client.get("/api/v1/obligations?status=overdue", headers=h).json["items"]
    assert [o["trial_title"] for o in overdue_only] == ["Aspirin after stroke"]
    assert "“End of trial”" in overdue_only[0]["explanation"]
    page = client.get("/api/v1/obligations?limit=3", headers=h).json
    rest = client.get(f"/api/v1/obligations?cursor={page['next_cursor']}", headers=h).json
    assert len(page["items"]) == 3 and len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_the_openapi_document_and_its_docs_page(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    doc = response.json
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    paths = doc["paths"]
    for path in (
        "/api/v1/trials",
        "/api/v1/trials/{trial_id}",
        "/api/v1/obligations",
        "/api/v1/certificates",
        "/api/v1/trials/{trial_id}/certificates",
        "/api/v1/reports",
        "/api/v1/audit-events",
    ):
        assert path in paths, path
    for path, item in paths.items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
            problem = doc["components"]["responses"]["UNAUTHORIZED"]["content"]
            assert list(problem) == ["application/problem+json"]
    listed = paths["/api/v1/trials"]["get"]["parameters"]
    assert {p["name"] for p in listed} == {
        "cursor",
        "limit",
        "status",
        "ruleset",
        "due_within",
        "q",
    }
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "GET /api/v1/trials" in html and "Authorization: Bearer" in html
    assert "http://" not in html.replace("http://localhost", "") and "cdn" not in html.lower()
