"""What a certificate's pages show, worked out from its statement (pure functions, no database).

The statement (portal/services/certificates.build_statement) is the record, fixed at request
time; this turns it into the printed layout (issue 18):

* page 1: the verdict, the trial, and one table of every duty (rule, status, due date, met on or
  what is missing), grouped by rule set and ordered by due date, then the verification block
  (serial, fingerprint, QR code, web address);
* "facts to check": findings about the trial's facts, only when the statement has any;
* the facts, once, in one table with where each came from;
* the evidence per duty, as an appendix in the same order as the table;
* the rule sets and the assumption values.

Everything is in plain English: facts by their labels, dates as "4 December 2026", citations
that name the regulation and guidance (never a file), no internal keys. Statements of version 1
(facts without their keys) print the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Any

from portal.rules.labels import FACT_LABELS as RULE_FACT_LABELS

RULESET_NAMES = {
    "uk-2026": "United Kingdom: S.I. 2025/538 (in force 28 April 2026)",
    "eu-ctr": "European Union: Regulation (EU) No 536/2014",
    "us-fdaaa": "United States: FDAAA 801 and 42 CFR Part 11",
}
RULESET_SHORT = {"uk-2026": "UK rules", "eu-ctr": "EU rules", "us-fdaaa": "US rules"}
RULESET_ORDER = {"uk-2026": 0, "eu-ctr": 1, "us-fdaaa": 2}

# The rules engine's facts as a person names them: one list of labels (portal.rules.labels), plus
# the two per-registry facts the certificate's registry rows use.
FACT_LABELS = {
    **RULE_FACT_LABELS,
    "registered_on": "Registration date",
    "results_posted_on": "Results posted",
}
# The assumption parameters (portal.rules.params.Params) as a person names them, with units.
PARAMETER_LABELS = {
    "due_soon_days": ("A duty is due soon within", "days"),
    "deferral_months": ("One deferral lasts", "months"),
    "deferral_max_years": ("Deferrals last at most", "years"),
    "lapse_warning_days": ("Warn of a lapsing registration", "days before"),
    "old_rules_part_applies": ("The participant summary duty applies to old-rules trials", ""),
    "eu_window_start": ("EU results are asked for trials ending on or after", ""),
    "end_date_tolerance_days": ("End dates from two sources may differ by up to", "days"),
}
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?Z?)?\b")
_EXPLAINED = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+\s*=\s*[\w.-]+:\s+(?=\S)")
_ASSIGNMENT = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\s*=\s*([\w.-]+)")


def day_text(value: date | str | None) -> str:
    """``4 December 2026`` (one date format everywhere); "not known" for none."""
    if value in (None, ""):
        return "not known"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value.day} {value:%B %Y}"


def fact_label(key: str) -> str:
    """A fact's label; anything that is not a key (a registry's name) stays as it is."""
    if key in FACT_LABELS:
        return FACT_LABELS[key]
    return key.replace("_", " ").capitalize() if "_" in key else key


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "End of the trial" -> "end of the trial"; a first word with
    capitals after its first letter is a name and stays ("US ...", "EudraCT number ...")."""
    first = label.split(" ", 1)[0]
    return label if any(c.isupper() for c in first[1:]) else label[:1].lower() + label[1:]


def _iso_to_words(match: re.Match[str]) -> str:
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return match.group(0)
    text = day_text(day)
    return f"{text} at {match.group(4)}" if match.group(4) else text


def _assignment(match: re.Match[str]) -> str:
    key, value = match.group(1), match.group(2)
    label, unit = PARAMETER_LABELS.get(key, (fact_label(key), ""))
    if value in ("True", "true", "False", "false"):
        return f"{label}: {'yes' if value.lower() == 'true' else 'no'}"
    return f"{label}: {value} {unit}".rstrip()


def plain(text: Any) -> str:
    """``text`` with internal words made plain: facts and parameters by their labels, ISO dates
    spelt out, and no mention of the rules file."""
    text = str(text or "")
    if not text:
        return ""
    text = text.replace(" (RULES.md)", "").replace("RULES.md ", "").replace("RULES.md", "")
    text = _EXPLAINED.sub("", text)  # "due_soon_days=30: a duty is ..." explains itself
    text = _ASSIGNMENT.sub(_assignment, text)
    text = _SNAKE.sub(lambda m: _in_sentence(fact_label(m.group(0))), text)
    return _ISO_DAY.sub(_iso_to_words, text)


def citation(source: str) -> str:
    """The regulation and guidance a duty comes from, without the rules file's section."""
    parts = [p.strip() for p in str(source or "").split(";")]
    kept = [p for p in parts if p and not p.startswith("RULES.md")]
    return plain("; ".join(kept))


def describe(key: str | None, value: Any) -> str:
    """A fact's value as a person reads it."""
    if value is None or value == "" or value == [] or value == "not known":
        return "Not known"
    if key == "registrations" and isinstance(value, list):
        return "; ".join(_registration(r) for r in value if isinstance(r, dict)) or "none"
    if value is True or value is False:
        return "Yes" if value else "No"
    if isinstance(value, list):
        return "; ".join(describe(None, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{fact_label(k).lower()} {describe(k, v)}" for k, v in value.items())
    return plain(value)


def _registration(entry: dict[str, Any]) -> str:
    text = f"{entry.get('registry') or 'Registry'} {entry.get('id') or ''}".strip()
    if entry.get("registered_on"):
        text += f", registered {day_text(entry['registered_on'])}"
    posted = entry.get("results_posted_on")
    return text + (f", results posted {day_text(posted)}" if posted else ", no results posted")


def _due_key(ob: dict[str, Any]) -> tuple:
    due = ob.get("due")
    return (due is None, due or "", ob.get("duty") or "")


def _detail(ob: dict[str, Any]) -> str:
    """The table's last column: when it was met, or what is missing or late."""
    status = ob.get("status")
    if ob.get("met_on"):
        late = " (late)" if status == "met_late" else ""
        return f"Met on {day_text(ob['met_on'])}{late}"
    missing = [_missing(m) for m in ob.get("missing") or []]
    if status == "data_needed":
        return "Missing: " + (", ".join(missing) if missing else "more facts")
    if missing and status in ("upcoming", "due_soon", "overdue"):
        return "Still missing on: " + ", ".join(missing)
    if status == "overdue":
        days = ob.get("days_overdue") or 0
        return f"{days} day{'s' if days != 1 else ''} overdue" if days else "Overdue"
    if ob.get("deferred_until"):
        return f"Deferred until {day_text(ob['deferred_until'])}"
    if status == "waived":
        return "Waived"
    if status == "not_applicable":
        return "Does not apply to this trial"
    return ""


def _missing(item: str) -> str:
    """A missing fact as the statement lists it (version 1: "end of trial on"; version 2: plain
    words already), with a capital letter."""
    key = item.replace(" ", "_")
    text = FACT_LABELS.get(key) or plain(item)
    return text[:1].upper() + text[1:]


def _outstanding(item: dict[str, Any]) -> str:
    """An outstanding duty's reason in plain words (the statement's text names fact keys)."""
    return plain(item.get("reason") or "")


def _fact_key(ev: dict[str, Any]) -> str:
    """A fact's key (version 1 statements kept only its name: "End of trial on")."""
    return ev.get("key") or str(ev.get("fact") or "").lower().replace(" ", "_")


def _fact_rows(obligations: list[dict[str, Any]]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Every fact any duty rests on, once, by label: number, label, value, source; and each
    fact's key -> "label (number)" for the appendix."""
    rows: dict[str, dict[str, str]] = {}
    for ob in obligations:
        for ev in ob.get("evidence") or []:
            key = _fact_key(ev)
            if key and key not in rows:
                rows[key] = {
                    "label": fact_label(key),
                    "value": plain(ev.get("value")) or "Not known",
                    "source": plain(ev.get("source")) or "Not recorded",
                }
    ordered = sorted(rows.items(), key=lambda kv: kv[1]["label"].lower())
    refs = {}
    for number, (key, row) in enumerate(ordered, start=1):
        row["number"] = str(number)
        refs[key] = f"{row['label']} ({number})"
    return [row for _key, row in ordered], refs


def fingerprint(statement: dict[str, Any]) -> str:
    """SHA-256 of what the certificate states (its statement as canonical JSON). The PDF file's
    own fingerprint cannot be printed in it: the verify page shows that one."""
    data = json.dumps(statement, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def layout(statement: dict[str, Any]) -> dict[str, Any]:
    """The certificate's printed content, in order (see the module docstring)."""
    s = statement
    obligations = sorted(
        s.get("obligations") or [],
        key=lambda o: (
            RULESET_ORDER.get(o.get("ruleset"), 9),
            o.get("ruleset") or "",
            *_due_key(o),
        ),
    )
    facts, numbers = _fact_rows(obligations)
    groups: list[dict[str, Any]] = []
    appendix: list[dict[str, Any]] = []
    for ob in obligations:
        ruleset = ob.get("ruleset") or ""
        if not groups or groups[-1]["ruleset"] != ruleset:
            groups.append(
                {
                    "ruleset": ruleset,
                    "name": RULESET_NAMES.get(ruleset, plain(ruleset)),
                    "short": RULESET_SHORT.get(ruleset, plain(ruleset)),
                    "rows": [],
                }
            )
        due = day_text(ob["due"]) if ob.get("due") else "No due date"
        if ob.get("due") and ob.get("estimated"):
            due += " (estimated)"
        groups[-1]["rows"].append(
            {
                "duty": ob.get("duty") or "",
                "title": plain(ob.get("title") or ob.get("duty")),
                "status": ob.get("status_label") or "",
                "due": due,
                "detail": _detail(ob),
            }
        )
        keys = [_fact_key(ev) for ev in ob.get("evidence") or []]
        title = plain(ob.get("title") or ob.get("duty"))
        appendix.append(
            {
                "duty": ob.get("duty") or "",
                "title": title,
                "status": ob.get("status_label") or "",
                "explanation": _without_title(plain(ob.get("explanation")), title),
                "note": plain(ob.get("note")),
                "facts": ", ".join(numbers[k] for k in keys if k in numbers),
                "assumptions": [plain(a) for a in ob.get("assumptions") or []],
                "citation": citation(ob.get("source") or ""),
                "version": ob.get("ruleset_version") or "",
                "ruleset": RULESET_SHORT.get(ruleset, plain(ruleset)),
            }
        )
    verdict = s.get("verdict") or {}
    compliant = bool(verdict.get("compliant"))
    count = len(verdict.get("outstanding") or [])
    if compliant:
        headline = f"COMPLIANT as of {day_text(s.get('as_of'))}"
    else:
        headline = f"NOT COMPLIANT: {count} outstanding"
    trial = s.get("trial") or {}
    parameters = []
    for p in s.get("parameters") or []:
        values = []
        for key, value in (p.get("values") or {}).items():
            label, unit = PARAMETER_LABELS.get(key, (fact_label(key), ""))
            if isinstance(value, bool):
                values.append(f"{label}: {'yes' if value else 'no'}")
            else:
                values.append(plain(f"{label}: {value} {unit}".rstrip()))
        parameters.append({"version": p.get("version"), "values": values})
    evaluated = sorted({o["evaluated_as_of"] for o in obligations if o.get("evaluated_as_of")})
    return {
        "serial": s.get("serial") or "",
        "as_of": day_text(s.get("as_of")),
        "compliant": compliant,
        "headline": headline,
        "outstanding": [
            {
                "duty": item.get("duty") or "",
                "title": plain(item.get("title")),
                "reason": _outstanding(item),
            }
            for item in verdict.get("outstanding") or []
        ],
        "trial": {
            "title": trial.get("title") or "Untitled trial",
            "identifiers": "; ".join(i.get("text", "") for i in trial.get("identifiers") or [])
            or "not recorded",
            "sponsor": trial.get("sponsor") or "Not stated in the registries",
            "owner": trial.get("owner") if trial.get("owner") != trial.get("sponsor") else "",
            "registries": [_registry(e) for e in trial.get("registries") or []],
        },
        "groups": groups,
        "findings": [_finding(c) for c in s.get("facts_to_check") or [] if isinstance(c, dict)],
        "facts": facts,
        "appendix": appendix,
        "rulesets": [
            f"{RULESET_NAMES.get(r.get('ruleset'), plain(r.get('ruleset')))}, "
            f"rules version {r.get('version')}"
            for r in s.get("rulesets") or []
        ],
        "parameters": parameters,
        "evaluated": [day_text(d) for d in evaluated],
        "verify_url": s.get("verify_url") or "",
        "fingerprint": fingerprint(s),
        "requested_by": s.get("requested_by") or {},
        "requested_on": day_text(s.get("requested_at")),
    }


def _without_title(explanation: str, title: str) -> str:
    """A duty's explanation in the appendix, where the duty's title already heads it: "Register
    the trial: due 12 months after ..." -> "Due 12 months after ..."."""
    prefix = f"{title}: "
    if title and explanation.startswith(prefix) and len(explanation) > len(prefix):
        rest = explanation[len(prefix) :]
        return rest[:1].upper() + rest[1:]
    return explanation


def _finding(check: dict[str, Any]) -> dict[str, str]:
    """One fact to check (portal.services.fact_checks.shown) as a row of the certificate's table:
    conflict or warning, then what was found, the duties it affects and each fact with its source
    (RULES.md "Facts that contradict each other")."""
    text = str(check.get("message") or "")
    if check.get("duties"):
        text += f" Affects {', '.join(str(d) for d in check['duties'])}."
    facts = "; ".join(
        f"{f.get('label')}: {f.get('value')} ({f.get('source')})"
        if f.get("source")
        else f"{f.get('label')}: {f.get('value')}"
        for f in check.get("facts") or []
        if isinstance(f, dict)
    )
    if facts:
        text += f" {facts}."
    return {"label": "Conflict" if check.get("conflict") else "Warning", "text": plain(text)}


def _registry(entry: dict[str, Any]) -> str:
    text = f"{entry.get('registry')} {entry.get('id')}"
    text += (
        f": registered {day_text(entry['registered_on'])}"
        if entry.get("registered_on")
        else (": not registered")
    )
    posted = entry.get("results_posted_on")
    text += f", results posted {day_text(posted)}" if posted else ", no results posted"
    return text + (f" ({entry['url']})" if entry.get("url") else "")
