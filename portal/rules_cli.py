"""``flask obligations ...``: evaluate the rules from the command line, and run recomputes.

``flask obligations evaluate RECORD [--facts FACTS] [--as-of DATE] [--format json|text]`` is a
contract for integrators and acceptance checks. It needs no database and no Redis: it reads a
registry record file (any format the importer reads) and/or a facts file and prints the verdicts
of RULES.md. Bad input exits with status 2 and one line on stderr, ``Error: ...``.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from datetime import date
from typing import Any, NoReturn, TextIO

import click
from flask.cli import AppGroup

obligations = AppGroup("obligations", help="Transparency duties: evaluate the rules, recompute.")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LINES_SUFFIXES = (".jsonl", ".ndjson")
_OUT_BUFFER = 256 * 1024


class InputError(Exception):
    """Bad input from the command line: the message is the one line shown after 'Error:'."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {_one_line(message)}", err=True)
    raise SystemExit(2)


def parse_as_of(value: Any, where: str) -> date:
    """A YYYY-MM-DD date, or an InputError naming ``where``."""
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise InputError(f"{where}: {json.dumps(value)} is not a date (use YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f'{where}: "{value}" is not a date (use YYYY-MM-DD)') from None


# --- inputs -----------------------------------------------------------------------------------


def record_facts(path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Facts and their sources from the first trial record in ``path`` ("-": none)."""
    if path == "-":
        return {}, {}
    from portal.registries import Rejected, iter_records

    first_rejection: Rejected | None = None
    for item in iter_records([path]):
        if isinstance(item, Rejected):
            first_rejection = first_rejection or item
            continue
        facts = item.to_facts()
        entry = item.entry
        label = f"{entry.registry} {entry.registry_id} (record file {item.source_file})"
        return facts, dict.fromkeys(facts, label)
    if first_rejection is not None:
        where = f" {first_rejection.record}" if first_rejection.record else ""
        raise InputError(f"{first_rejection.file}{where}: {first_rejection.reason}")
    raise InputError(f"{path}: no trial record found")


def _case_from(obj: Any, where: str) -> tuple[dict[str, Any], str | None]:
    """A facts object (with an optional "as_of") -> (facts, as_of text or None)."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object of facts, got {type(obj).__name__}")
    as_of = obj.pop("as_of", None)
    return obj, as_of


def iter_cases(path: str | None) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """(where, facts, as_of text) for each case in the facts file (one case when none)."""
    if path is None:
        yield "", {}, None
        return
    if path == "-":
        yield from _lines(sys.stdin, "stdin")
        return
    try:
        handle = open(path, encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{path}: cannot open the facts file ({exc.strerror or exc})") from None
    with handle:
        if path.lower().endswith(_LINES_SUFFIXES):
            yield from _lines(handle, path)
            return
        try:
            obj = json.load(handle)
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
            ) from None
        facts, as_of = _case_from(obj, path)
        yield path, facts, as_of


def _lines(handle: TextIO, name: str) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    loads = json.loads
    try:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{name} line {number}"
            try:
                obj = loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{where}: not valid JSON (column {exc.colno}: {exc.msg})"
                ) from None
            facts, as_of = _case_from(obj, where)
            yield where, facts, as_of
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None


def load_params(path: str | None):
    from portal.rules import DEFAULT_PARAMS, Params, ParamsError

    if path is None:
        return DEFAULT_PARAMS
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise InputError(
            f"{path}: cannot open the parameters file ({exc.strerror or exc})"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    try:
        return Params.from_dict(data)
    except ParamsError as exc:
        raise InputError(f"{path}: {exc}") from None
    except TypeError as exc:  # a wrong value type the dataclass itself refuses
        raise InputError(f"{path}: {exc}") from None


# --- output -----------------------------------------------------------------------------------


def _text_case(as_of: date, verdicts: list[Any], where: str, findings: list[Any] = ()) -> str:
    head = f"As of {as_of.isoformat()}" + (f" ({where})" if where else "")
    lines = [head, "=" * len(head)]
    wrap = textwrap.TextWrapper(width=96, initial_indent="    ", subsequent_indent="    ")
    for o in verdicts:
        due = o.due.isoformat() if o.due else "-"
        extra = ""
        if o.status == "overdue":
            extra = f", {o.days_overdue} days overdue"
        elif o.status == "met_late":
            extra = f", {o.days_overdue} days late"
        elif o.days_remaining is not None:
            extra = f", {o.days_remaining} days left"
        lines.append(
            f"{o.id:<9} {o.status:<15} due {due}{extra}  [{o.ruleset} {o.ruleset_version}]"
        )
        lines.append(wrap.fill(o.explanation))
        for assumption in o.assumptions:
            lines.append(wrap.fill("Assumption: " + assumption))
        if o.missing:
            lines.append(wrap.fill("Missing: " + ", ".join(o.missing)))
        lines.append(wrap.fill("Source: " + o.source))
    if findings:
        lines.append("Facts to check:")
        for c in findings:
            lines.append(wrap.fill(c.message))
    return "\n".join(lines) + "\n"


class OneLineErrors(click.Command):
    """Usage errors (a missing argument, an unknown option) as one line too, not click's
    usage block: integrators read stderr line by line."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _fail(exc.format_message())


@obligations.command("evaluate", cls=OneLineErrors)
@click.argument("record")
@click.option(
    "--facts",
    "facts_path",
    default=None,
    help="JSON object of facts (overrides the record's), or a .jsonl file of many fact sets, "
    "one object a line, each optionally with its own \"as_of\"; '-' reads JSON lines from stdin.",
)
@click.option(
    "--as-of",
    "as_of_text",
    default=None,
    help='YYYY-MM-DD (default: today); a fact set\'s own "as_of" wins over it.',
)
@click.option(
    "--format", "fmt", default="json", help="json (default; one line per case for .jsonl) or text."
)
@click.option(
    "--params",
    "params_path",
    default=None,
    help="JSON file of rule parameters (default: built-in).",
)
def evaluate_command(
    record: str,
    facts_path: str | None,
    as_of_text: str | None,
    fmt: str,
    params_path: str | None,
) -> None:
    """Evaluate the duties of RECORD (a registry record file, or '-' for none) as of a date.

    Needs no database. Facts from --facts override those read from the record. Prints
    {"as_of": ..., "obligations": [...], "conflicts": [...], "warnings": [...]} per case; exits
    2 with one line on stderr on bad input.
    """
    out = sys.stdout
    try:
        _evaluate(record, facts_path, as_of_text, fmt, params_path, out)
        out.flush()
    except InputError as exc:
        _fail(str(exc))
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        raise SystemExit(0) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # never a traceback for integrators: one line, exit 2
        _fail(f"could not evaluate: {type(exc).__name__}: {exc}")


def _evaluate(
    record: str,
    facts_path: str | None,
    as_of_text: str | None,
    fmt: str,
    params_path: str | None,
    out: TextIO,
) -> None:
    from portal.domain.obligations.encode import encode_case
    from portal.rules import Facts, FactsError, evaluate, facts_to_check
    from portal.timeutil import today

    if fmt not in ("json", "text"):
        raise InputError(f'--format: "{fmt}" is not json or text')
    default_as_of = parse_as_of(as_of_text, "--as-of") if as_of_text is not None else today()
    params = load_params(params_path)
    base_facts, base_sources = record_facts(record)
    many = facts_path == "-" or (facts_path or "").lower().endswith(_LINES_SUFFIXES)
    facts_label = "facts from stdin" if facts_path == "-" else f"facts file {facts_path}"

    buffer: list[str] = []
    size = 0
    for where, overrides, as_of_value in iter_cases(facts_path):
        as_of = (
            default_as_of if as_of_value is None else parse_as_of(as_of_value, f"{where}: as_of")
        )
        if overrides:
            facts = {**base_facts, **overrides}
            sources = {**base_sources, **dict.fromkeys(overrides, facts_label)}
        else:
            facts, sources = base_facts, base_sources
        try:
            validated = Facts.from_dict(facts, sources)
        except FactsError as exc:
            raise InputError(f"{where or record}: {exc}") from None
        verdicts = evaluate(validated, as_of, params)
        findings = facts_to_check(validated, as_of, params)
        if fmt == "text":
            text = _text_case(as_of, verdicts, where if many else "", findings)
        elif many:
            text = encode_case(as_of, verdicts, validated, findings) + "\n"
        else:  # one case: the same JSON, indented for people
            text = json.dumps(
                json.loads(encode_case(as_of, verdicts, validated, findings)),
                indent=2,
                ensure_ascii=False,
            )
            text += "\n"
        buffer.append(text)
        size += len(text)
        if size >= _OUT_BUFFER:
            out.write("".join(buffer))
            buffer, size = [], 0
    out.write("".join(buffer))


# --- recompute --------------------------------------------------------------------------------


@obligations.command("recompute-all")
@click.option("--as-of", "as_of_text", default=None, help="YYYY-MM-DD (default: today).")
@click.option(
    "--enqueue",
    is_flag=True,
    help="Hand the recompute to the RQ workers instead of running it in this process.",
)
@click.option(
    "--from-records",
    is_flag=True,
    help="Read every trial's facts again from its registry entries and sponsor-entered facts "
    "(after an upgrade that changes how facts are read), not from the facts stored with its "
    "verdicts.",
)
def recompute_all_command(as_of_text: str | None, enqueue: bool, from_records: bool) -> None:
    """Recompute every trial's obligations (the daily job: statuses move with the date)."""
    try:
        as_of = parse_as_of(as_of_text, "--as-of") if as_of_text is not None else None
    except InputError as exc:
        _fail(str(exc))
    if enqueue:
        from portal.services.obligations import enqueue_recompute_all

        job_id = enqueue_recompute_all(reason="daily", as_of=as_of, from_records=from_records)
        if job_id is None:
            _fail("could not reach Redis to enqueue the recompute")
        click.echo(f"Recompute queued (job {job_id}).")
        return
    from workers.obligations import recompute_everything

    result = recompute_everything(as_of.isoformat() if as_of else None, from_records=from_records)
    click.echo(
        f"Recomputed {result['trials']} trials as of {result['as_of']} in "
        f"{result['seconds']:.1f} s: {result['inserted']} new, {result['updated']} changed, "
        f"{result['status_changes']} status changes."
    )


@obligations.command("cron")
@click.option(
    "--schedule",
    default="15 2 * * *",
    show_default=True,
    help="Cron expression (UTC) for the daily recompute.",
)
def cron_command(schedule: str) -> None:
    """Run RQ's cron scheduler that enqueues the daily recompute (run ONE per deployment)."""
    from rq.cron import CronScheduler

    from portal.jobs import QUEUE_DEFAULT, redis_connection
    from workers.obligations import DAILY_TIMEOUT_SECONDS, recompute_all

    scheduler = CronScheduler(connection=redis_connection(), logging_level="INFO")
    scheduler.register(
        recompute_all,
        QUEUE_DEFAULT,
        kwargs={"reason": "daily"},
        cron=schedule,
        job_timeout=DAILY_TIMEOUT_SECONDS,
        name="obligations-daily-recompute",
    )
    # Notifications: every hour (UTC); the job acts once a day at 07:00 Europe/London.
    from workers.notifications import daily_tick

    scheduler.register(
        daily_tick, QUEUE_DEFAULT, cron="0 * * * *", name="notifications-daily-digests"
    )
    # Registry sync (issue 19): every registry's changes, daily at 01:30 UTC.
    from workers.registry_sync import daily_sync

    scheduler.register(daily_sync, QUEUE_DEFAULT, cron="30 1 * * *", name="registries-daily-sync")
    # The public tracker's figures (issue 21), after the obligations' daily recompute.
    from workers.tracker import TIMEOUT_SECONDS, recompute_tracker

    scheduler.register(
        recompute_tracker,
        QUEUE_DEFAULT,
        cron="45 3 * * *",
        job_timeout=TIMEOUT_SECONDS,
        name="tracker-daily-recompute",
    )
    scheduler.start()
