"""The ``flask obligations evaluate`` contract: JSON shape, RULES.md worked example 1, .jsonl
batches, real registry records, one-line errors, and no database or Redis needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.rules import STATUSES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("REGISTRY_SAMPLES") or ROOT.parent / "shared/data/registry-samples")
UK_RECORD = SAMPLES / "ctgov-v2-json/dtx-analysis-ctg-studies/NCT06223893.json"
CONTRACT_KEYS = {
    "id", "ruleset", "ruleset_version", "status", "due", "days_overdue", "explanation",
    "inputs", "assumptions", "source",
}  # fmt: skip
EXAMPLE_1 = {
    "application_submitted_on": "2026-05-01",
    "approved_on": "2026-06-01",
    "first_participant_on": "2026-07-15",
    "registrations": [{"registry": "ISRCTN", "registered_on": "2026-07-10"}],
}


def run(*args: str, tmp_path: Path, stdin: str | None = None, **env: str):
    """Run the command as integrators do, with a database and a Redis that do not answer."""
    environ = {
        **os.environ,
        "PORTAL_ENV": "test",
        "SECRET_KEY": "cli-test",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/unreachable",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "portal", "obligations", "evaluate", *args],
        cwd=ROOT,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def offline_app(tmp_path: Path):
    """The app as `flask --app portal` builds it, with a database and Redis that do not answer."""
    from portal import create_app

    return create_app(
        env={
            "PORTAL_ENV": "test",
            "SECRET_KEY": "cli-test",
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/unreachable",
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )


def write(path: Path, content) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def by_id(output: dict) -> dict[str, dict]:
    return {o["id"]: o for o in output["obligations"]}


def test_worked_example_1_from_a_facts_file_with_no_record(tmp_path):
    facts = write(tmp_path / "example1.json", EXAMPLE_1)
    result = run("-", "--facts", facts, "--as-of", "2026-09-01", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["as_of"] == "2026-09-01"
    assert len(output["obligations"]) == 10
    for o in output["obligations"]:
        assert CONTRACT_KEYS <= set(o)
        assert o["status"] in STATUSES
        assert isinstance(o["days_overdue"], int) and isinstance(o["assumptions"], list)
    reg = by_id(output)["UK-REG"]
    assert (reg["ruleset"], reg["status"], reg["due"], reg["days_overdue"]) == (
        "uk-2026", "met", "2026-07-14", 0
    )  # fmt: skip
    assert reg["inputs"]["approved_on"] == {"value": "2026-06-01", "source": f"facts file {facts}"}
    assert "S.I. 2025/538" in reg["source"]


def test_text_format_is_one_readable_block(tmp_path):
    facts = write(tmp_path / "example1.json", EXAMPLE_1)
    result = run("-", "--facts", facts, "--as-of", "2026-09-01", "--format", "text",
                 tmp_path=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "As of 2026-09-01"
    assert any(
        line.startswith("UK-REG") and "met" in line and "2026-07-14" in line for line in lines
    )


def test_jsonl_cases_come_back_in_order_each_with_its_own_as_of(tmp_path):
    cases = [
        {**EXAMPLE_1, "as_of": "2026-09-01"},  # example 1: met
        {**EXAMPLE_1, "registrations": [{"registry": "ISRCTN", "registered_on": "2026-08-01"}]},
        {"application_submitted_on": "2026-04-30", "approved_on": "2026-05-04",
         "as_of": "2026-09-01"},  # example 3: overdue by 30 days
        {"application_submitted_on": "2025-11-01", "end_of_trial_on": "2026-03-31",
         "countries": ["United Kingdom"], "as_of": "2026-06-01"},  # example 4
    ]  # fmt: skip
    path = write(tmp_path / "cases.jsonl", "\n".join(json.dumps(c) for c in cases) + "\n\n")
    result = run("-", "--facts", path, "--as-of", "2026-10-01", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["as_of"] for line in lines] == ["2026-09-01", "2026-10-01", "2026-09-01",
                                                  "2026-06-01"]  # fmt: skip
    assert by_id(lines[0])["UK-REG"]["status"] == "met"
    assert (by_id(lines[1])["UK-REG"]["status"], by_id(lines[1])["UK-REG"]["due"]) == (
        "met_late", "2026-07-14"
    )  # fmt: skip
    example3 = by_id(lines[2])["UK-REG"]
    assert (example3["status"], example3["due"], example3["days_overdue"]) == (
        "overdue", "2026-08-02", 30
    )  # fmt: skip
    assert by_id(lines[3])["UK-RES"]["status"] == "not_applicable"


def test_jsonl_from_stdin(tmp_path):
    result = run("-", "--facts", "-", "--as-of", "2026-09-01", tmp_path=tmp_path,
                 stdin=json.dumps(EXAMPLE_1) + "\n" + json.dumps(EXAMPLE_1) + "\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


@pytest.mark.skipif(not UK_RECORD.exists(), reason="shared registry samples not available")
def test_a_real_registry_record_with_a_uk_site_and_facts_overriding_it(tmp_path):
    result = run(str(UK_RECORD), "--as-of", "2026-11-20", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    verdicts = by_id(json.loads(result.stdout))
    countries = verdicts["UK-END"]["inputs"]["countries"]
    assert "United Kingdom" in countries["value"]
    assert countries["source"].startswith("ClinicalTrials.gov NCT06223893")
    # the record does not say when the UK application was made: the rules ask for it
    assert verdicts["UK-RES"]["status"] == "data_needed"
    assert verdicts["UK-RES"]["missing"] == ["application_submitted_on"]
    # the explanation names the fact in words, not by its key
    assert "Add: UK application submitted." in verdicts["UK-RES"]["explanation"]

    facts = write(tmp_path / "more.json", {"application_submitted_on": "2023-06-01"})
    result = run(str(UK_RECORD), "--facts", facts, "--as-of", "2026-11-20", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    res = by_id(json.loads(result.stdout))["UK-RES"]
    assert res["inputs"]["application_submitted_on"]["source"] == f"facts file {facts}"
    # an old rules trial that ended (Nov 2025) before 28 April 2026: not a legal duty
    assert res["status"] == "not_applicable"


def test_a_file_with_no_trial_record_gives_the_readers_reason(tmp_path):
    path = write(tmp_path / "notes.txt", "just some notes\n")
    result = run(path, tmp_path=tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith("Error: ") and "unrecognised format" in result.stderr


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing record", "no such file"),
        ("missing facts", "cannot open the facts file"),
        ("bad json", "not valid JSON"),
        ("bad jsonl line", "line 2: not valid JSON"),
        ("bad date", "--as-of"),
        ("bad as_of in a line", "as_of"),
        ("unknown key", "aproved_on: unknown fact (did you mean approved_on?)"),
        ("bad fact value", "approved_on"),
        ("not an object", "expected a JSON object"),
        ("bad format", "--format"),
        ("no record argument", "Missing argument 'RECORD'"),
        ("unknown option", "No such option '--fcts'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, case, expected):
    good = write(tmp_path / "good.json", EXAMPLE_1)
    args = {
        "missing record": [str(tmp_path / "nope.json")],
        "missing facts": ["-", "--facts", str(tmp_path / "nope.json")],
        "bad json": ["-", "--facts", write(tmp_path / "bad.json", '{"approved_on": ')],
        "bad jsonl line": ["-", "--facts", write(tmp_path / "b.jsonl", '{}\n{"x": \n')],
        "bad date": ["-", "--facts", good, "--as-of", "2026-13-01"],
        "bad as_of in a line": ["-", "--facts", write(tmp_path / "c.jsonl", '{"as_of": "soon"}\n')],
        "unknown key": ["-", "--facts", write(tmp_path / "u.json", {"aproved_on": "2026-06-01"})],
        "bad fact value": ["-", "--facts", write(tmp_path / "v.json", {"approved_on": "June"})],
        "not an object": ["-", "--facts", write(tmp_path / "l.json", [EXAMPLE_1])],
        "bad format": ["-", "--facts", good, "--format", "xml"],
        "no record argument": [],
        "unknown option": ["-", "--fcts", good],
    }[case]
    result = offline_app(tmp_path).test_cli_runner().invoke(args=["obligations", "evaluate", *args])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert expected in lines[0]


def test_default_as_of_is_today_and_record_dash_alone_works(tmp_path):
    from portal.timeutil import today

    result = run("-", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["as_of"] == today().isoformat()
    assert {o["status"] for o in output["obligations"]} <= {"not_applicable", "data_needed"}


def test_params_file_changes_the_assumptions(tmp_path):
    facts = {
        "application_submitted_on": "2026-05-01",
        "approved_on": "2026-06-01",
        "end_of_trial_on": "2027-01-31",
        "countries": ["United Kingdom"],
    }
    facts = write(tmp_path / "s.json", facts)
    params = write(tmp_path / "p.json", {"due_soon_days": 100})
    result = run("-", "--facts", facts, "--params", params, "--as-of", "2027-02-01",
                 tmp_path=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    end = by_id(json.loads(result.stdout))["UK-END"]
    assert end["status"] == "due_soon"
    assert any(a.startswith("due_soon_days=100") for a in end["assumptions"])
    bad = write(tmp_path / "q.json", {"due_soon_days": -1})
    result = run("-", "--facts", facts, "--params", bad, tmp_path=tmp_path)
    assert result.returncode == 2 and "due_soon_days" in result.stderr


def test_in_process_runner_gives_the_same_json(app, tmp_path):
    """CliRunner (no subprocess) exercises the same code; output identical to the engine's."""
    from datetime import date

    from portal.rules import Facts, evaluate

    facts = write(tmp_path / "example1.json", EXAMPLE_1)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["obligations", "evaluate", "-", "--facts", facts,
                                 "--as-of", "2026-09-01"])  # fmt: skip
    assert result.exit_code == 0, result.output
    sources = dict.fromkeys(EXAMPLE_1, f"facts file {facts}")
    expected = [
        o.to_json() for o in evaluate(Facts.from_dict(EXAMPLE_1, sources), date(2026, 9, 1))
    ]
    assert json.loads(result.output)["obligations"] == expected


def test_a_real_process_with_bad_input_prints_one_error_line(tmp_path):
    result = run("-", "--facts", str(tmp_path / "missing.json"), tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
