"""WHO ICTRP exports: "Export to XML" (``<Trials_downloaded_from_ICTRP><Trial>``) and the
CSV export. One export carries trials of many registries; each record is attributed to
the registry its TrialID belongs to."""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import normalise as n
from .model import Rejected, TrialRecord, make_record
from .streams import CSVBroken, XMLBroken, csv_key, iter_csv, iter_xml

# TrialID prefix -> registry name (longest prefixes first)
_PREFIXES = (
    ("ISRCTN", "ISRCTN"),
    ("EUCTR", "EUCTR"),
    ("CTIS", "CTIS"),
    ("ChiCTR", "ChiCTR"),
    ("ChiMCTR", "ChiMCTR"),
    ("ACTRN", "ANZCTR"),
    ("IRCT", "IRCT"),
    ("JPRN", "JPRN"),
    ("DRKS", "DRKS"),
    ("TCTR", "TCTR"),
    ("CTRI", "CTRI"),
    ("KCT", "CRiS"),
    ("PACTR", "PACTR"),
    ("RBR", "ReBec"),
    ("RPCEC", "RPCEC"),
    ("SLCTR", "SLCTR"),
    ("LBCTR", "LBCTR"),
    ("ITMCTR", "ITMCTR"),
    ("PER", "REPEC"),
    ("NTR", "NTR"),
    ("NL", "NTR"),
    ("NCT", "ClinicalTrials.gov"),
)
_SOURCE_REGISTER = {
    "clinicaltrials.gov": "ClinicalTrials.gov",
    "eu clinical trials register": "EUCTR",
    "euctr": "EUCTR",
    "isrctn": "ISRCTN",
    "chictr": "ChiCTR",
    "anzctr": "ANZCTR",
    "netherlands trial register": "NTR",
    "german clinical trials register": "DRKS",
}
_EUCTR_PHASE_RE = re.compile(r"\(phase\s+(i{1,3}|iv)\)\s*:\s*(yes|no)", re.IGNORECASE)


def registry_for(trial_id: str, source_register: str | None) -> tuple[str, str] | None:
    """(registry name, canonical id) for an ICTRP TrialID, None if it is unusable."""
    tid = trial_id.strip()
    upper = tid.upper()
    for prefix, registry in _PREFIXES:
        if upper.startswith(prefix.upper()):
            if registry == "ClinicalTrials.gov":
                canonical = n.nct_id(tid)
            elif registry == "ISRCTN":
                canonical = n.isrctn_id(tid)
            elif registry == "EUCTR":
                canonical = n.eudract_id(tid)
            elif registry == "CTIS":
                canonical = n.euct_id(tid)
            elif prefix == "NL" and not re.fullmatch(r"NL(?:-OMON)?\d+", upper):
                continue
            else:
                canonical = tid
            return (registry, canonical) if canonical else None
    name = _SOURCE_REGISTER.get((source_register or "").strip().lower()) or (
        (source_register or "").strip() or "WHO ICTRP"
    )
    return name, tid


def _phases(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    text = raw.strip()
    if _EUCTR_PHASE_RE.search(text):
        # EUCTR in ICTRP: "Human pharmacology (Phase I): no\nTherapeutic exploratory ..."
        return n.phases_from_values(
            f"phase {num}"
            for num, answer in _EUCTR_PHASE_RE.findall(text)
            if answer.lower() == "yes"
        )
    if text == "0":  # ChiCTR uses "0" where no phase applies
        return ("n/a",)
    return n.phases_from_values([text])


def _split_countries(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    parts = []
    for part in raw.split(";"):
        # "Japan,Asia(except Japan)" lists with bare commas; "Korea, Republic of" keeps its
        # comma-space
        parts.extend(re.split(r",(?=\S)", part))
    return n.countries(parts)


def extract(row: dict, source_file: str, locator: str) -> TrialRecord | Rejected:
    """One ICTRP trial as a dict keyed by csv_key(field name) (XML tags and CSV headers
    give the same keys)."""
    trial_id = n.text(row.get("trialid"))
    if not trial_id:
        return Rejected(source_file, locator, "missing trial id")
    found = registry_for(trial_id, n.text(row.get("source_register")))
    if found is None:
        return Rejected(source_file, locator, f"malformed trial id {trial_id!r}")
    registry, registry_id = found
    where = f"{locator} ({trial_id})"
    try:
        registered = n.to_date(row.get("date_registration3"), "date of registration")
        if registered is None:
            registered = n.to_date(row.get("date_registration"), "date of registration")
        updated = n.to_date(row.get("last_refreshed_on"), "last refreshed date")
        results = n.to_date(row.get("results_date_posted"), "results posted date")
        start = n.date_value(row.get("date_enrollement"), "date of first enrolment")
        completion = n.date_value(
            row.get("results_date_completed"), "results completion date", True
        )
    except n.BadValue as err:
        return Rejected(source_file, where, str(err))
    refs: dict[str, str] = {}
    key = {"ClinicalTrials.gov": "nct", "ISRCTN": "isrctn", "EUCTR": "eudract", "CTIS": "euct"}
    if registry in key:
        refs[key[registry]] = registry_id
    for name in ("secondary_ids", "secondary_id", "secondary_id_s"):
        n.refs_from_free_text(row.get(name), refs)
    groups = n.age_groups_from_limits(
        n.text(row.get("inclusion_agemin")), n.text(row.get("inclusion_agemax"))
    )
    return make_record(
        registry=registry,
        registry_id=registry_id,
        source_file=source_file,
        source_record=where,
        registered_on=registered,
        results_posted_on=results,
        last_updated=updated,
        url=n.text(row.get("web_address")),
        cross_refs=refs,
        title=n.text(row.get("public_title")) or n.text(row.get("scientific_title")),
        sponsor_name=n.text(row.get("primary_sponsor")),
        phases=_phases(n.text(row.get("phase"))),
        study_type=n.study_type(row.get("study_type")),
        age_groups=groups,
        paediatric=n.paediatric_from_groups(groups),
        countries=_split_countries(n.text(row.get("countries"))),
        overall_status=n.status(row.get("recruitment_status")),
        start=start,
        completion=completion,
    )


def read_xml(fp, source_file: str) -> Iterator[TrialRecord | Rejected]:
    index = 0
    for elem in iter_xml(fp, frozenset({"Trial"})):
        if isinstance(elem, XMLBroken):
            yield Rejected(source_file, f"after Trial {index}" if index else "", elem.describe())
            return
        index += 1
        row = {csv_key(child.tag): (child.text or "") for child in elem}
        yield extract(row, source_file, f"Trial {index}")


def read_csv(fp, head: bytes, source_file: str) -> Iterator[TrialRecord | Rejected]:
    for row_number, row in iter_csv(fp, head):
        locator = f"row {row_number}"
        if isinstance(row, CSVBroken):
            yield Rejected(source_file, "" if row.fatal else locator, row.msg)
            if row.fatal:
                return
            continue
        yield extract(row, source_file, locator)
