"""ClinicalTrials.gov API v2 study JSON (single study, website array download, API page
``{"studies": [...]}`` and the ctrdata variant with ``ctrname``/``record_last_import``)."""

from __future__ import annotations

import json
import re

from . import normalise as n
from .model import Rejected, TrialRecord, make_record

REGISTRY = "ClinicalTrials.gov"

# protocolSection modules the reader uses; everything else (descriptions, outcomes, arms,
# references, resultsSection, derivedSection, ...) is skipped by quick_study()
MODULES = (
    "identificationModule",
    "statusModule",
    "sponsorCollaboratorsModule",
    "oversightModule",
    "designModule",
    "eligibilityModule",
    "contactsLocationsModule",
)
_MODULE_KEY_RE = tuple((m, f'"{m}"', re.compile(rf'"{m}"\s*:\s*')) for m in MODULES)
_STUDIES_PAGE_RE = re.compile(rb'\s*\{\s*"studies"\s*:')
_DECODER = json.JSONDecoder()


def quick_study(data: bytes) -> dict | None:
    """Fast path for a single-study file: decode only the protocolSection modules used.

    A key spelled exactly ``"statusModule":`` can only be an object key in JSON (quotes
    inside strings are escaped), so each module is found with a plain search and decoded
    on its own; descriptions, outcomes, references, results and derived sections (most of
    a large record) are never turned into Python objects.

    Returns None whenever the fast path cannot vouch for the result: not exactly one
    study, no closing brace at the end (truncated), a decoding error, an unexpected
    layout. The caller then decodes the whole file, which also names any error.
    Consequence, by design: a syntax error confined to the parts skipped here (e.g. in
    resultsSection) of an otherwise complete file is not reported.
    """
    if data.count(b'"protocolSection"') != 1 or _STUDIES_PAGE_RE.match(data):
        return None
    if not data[-64:].rstrip().endswith(b"}"):
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return _modules(text)


_PROTOCOL_KEY_RE = re.compile(rb'"protocolSection"\s*:')
_NEXT_TOKEN_RE = re.compile(rb'"nextPageToken"\s*:\s*("(?:[^"\\]|\\.)*"|null)')
_TOTAL_RE = re.compile(rb'"totalCount"\s*:\s*(\d+)')


def _modules(text: str) -> dict | None:
    """The modules used of one study's text (from its protocolSection key on)."""
    modules = {}
    pos = 0  # modules come in schema order: search on from the end of the previous one
    for name, quoted, key_re in _MODULE_KEY_RE:
        at = text.find(quoted, pos)
        if at < 0:
            at = text.find(quoted)
            if at < 0:
                continue
        key = key_re.match(text, at)
        if key is None:
            return None
        try:
            modules[name], pos = _DECODER.raw_decode(text, key.end())
        except json.JSONDecodeError:
            return None
    return {"protocolSection": modules}


def quick_page(data: bytes) -> tuple[list[dict], str | None, int | None] | None:
    """Fast path for an API v2 results page (``{"studies": [...], "nextPageToken": ...}``):
    each study's protocolSection modules used, decoded as ``quick_study`` does, without
    turning the rest of the page (results, descriptions: most of it) into Python objects,
    and without decoding the page as a whole (one study's text at a time).

    A key spelled ``"protocolSection":`` can only be an object key, so the studies are the
    spans between its occurrences; each module is searched for within its study's span.
    Returns (studies, next page token, total count), or None whenever it cannot vouch for the
    result (not a page, no closing brace at the end, a module that does not decode): the
    caller then decodes the whole page, which also names any error. As for single files, a
    syntax error confined to the skipped parts of a complete page is not reported."""
    if not _STUDIES_PAGE_RE.match(data) and b'"studies"' not in data[:4096]:
        return None
    if not data[-256:].rstrip().endswith(b"}"):
        return None
    starts = [m.start() for m in _PROTOCOL_KEY_RE.finditer(data)]
    if not starts:
        return None
    studies = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        try:
            study = _modules(data[start:end].decode("utf-8"))
        except UnicodeDecodeError:
            return None
        if study is None:
            return None
        studies.append(study)
    matches = list(_NEXT_TOKEN_RE.finditer(data, starts[-1]))
    found = matches[-1] if matches else _NEXT_TOKEN_RE.search(data, 0, starts[0])
    token = None
    if found is not None and found.group(1) != b"null":
        token = json.loads(found.group(1)) or None
    total = _TOTAL_RE.search(data, 0, starts[0]) or _TOTAL_RE.search(data, starts[-1])
    return studies, token, int(total.group(1)) if total else None


def _d(obj, key):
    """obj[key] if obj is a dict (ctrdata writes empty objects/lists as {} or "")."""
    if isinstance(obj, dict):
        return obj.get(key)
    return None


def _struct_date(struct, field: str, actual_default=None):
    if isinstance(struct, str):  # tolerate a bare date string
        return n.date_value(struct, field, actual_default)
    if not isinstance(struct, dict):
        return None
    return n.date_value(struct.get("date"), field, n.actual_flag(struct.get("type")))


def cross_refs(nct: str, ident: dict) -> dict[str, str]:
    refs = {"nct": nct}
    for info in n.as_list(_d(ident, "secondaryIdInfos")):
        if not isinstance(info, dict):
            continue
        sid = n.text(info.get("id"))
        if not sid:
            continue
        kind = (n.text(info.get("type")) or "").upper()
        domain = (n.text(info.get("domain")) or "").lower()
        if kind in ("EUDRACT_NUMBER", "CTIS") or "eudract" in domain or "ctis" in domain:
            value = n.euct_id(sid)
            if value:
                refs.setdefault("euct", value)
                continue
            value = n.eudract_id(sid)
            if value:
                refs.setdefault("eudract", value)
                continue
        if "isrctn" in domain:
            value = n.isrctn_id(sid, bare_digits=True)
            if value:
                refs.setdefault("isrctn", value)
                continue
        if "iras" in domain:
            value = n.iras_id(sid)
            if value:
                refs.setdefault("iras", value)
                continue
        value = n.isrctn_id(sid)
        if value:
            refs.setdefault("isrctn", value)
            continue
        bare = sid.strip()
        if n.EUCT_RE.fullmatch(bare):
            refs.setdefault("euct", n.euct_id(bare))
        elif n.EUDRACT_RE.fullmatch(bare):
            refs.setdefault("eudract", n.eudract_id(bare))
    return refs


def extract(study: dict, source_file: str, locator: str | None = None) -> TrialRecord | Rejected:
    """One v2 study object -> TrialRecord (or Rejected with a reason)."""
    ps = study.get("protocolSection")
    if not isinstance(ps, dict):
        return Rejected(source_file, locator or "", "no protocolSection in study")
    ident = ps.get("identificationModule") or {}
    raw_id = n.text(_d(ident, "nctId"))
    if not raw_id:
        return Rejected(source_file, locator or "", "missing trial id")
    nct = n.nct_id(raw_id)
    if nct is None or len(raw_id) != 11:
        return Rejected(source_file, locator or raw_id, f"malformed NCT id {raw_id!r}")
    where = f"{locator} ({nct})" if locator else nct
    status = _d(ps, "statusModule") or {}
    design = _d(ps, "designModule") or {}
    elig = _d(ps, "eligibilityModule") or {}
    oversight = _d(ps, "oversightModule") or {}
    sponsor = _d(_d(ps, "sponsorCollaboratorsModule"), "leadSponsor")
    locations = n.as_list(_d(_d(ps, "contactsLocationsModule"), "locations"))
    try:
        registered = n.to_date(status.get("studyFirstSubmitDate"), "first submitted date")
        if registered is None:
            registered = n.to_date(
                _d(status.get("studyFirstPostDateStruct"), "date"), "first posted date"
            )
        results = n.to_date(
            _d(status.get("resultsFirstPostDateStruct"), "date"), "results first posted date"
        )
        updated = n.to_date(
            _d(status.get("lastUpdatePostDateStruct"), "date"), "last update posted date"
        )
        start = _struct_date(status.get("startDateStruct"), "start date")
        primary = _struct_date(status.get("primaryCompletionDateStruct"), "primary completion date")
        completion = _struct_date(status.get("completionDateStruct"), "completion date")
    except n.BadValue as err:
        return Rejected(source_file, where, str(err))

    std_ages = n.as_list(elig.get("stdAges"))
    groups = n.age_groups(std_ages)
    if not groups:
        groups = n.age_groups_from_limits(elig.get("minimumAge"), elig.get("maximumAge"))
    countries = n.countries(loc.get("country") for loc in locations if isinstance(loc, dict))
    return make_record(
        registry=REGISTRY,
        registry_id=nct,
        source_file=source_file,
        source_record=where,
        registered_on=registered,
        results_posted_on=results,
        last_updated=updated,
        url=f"https://clinicaltrials.gov/study/{nct}",
        cross_refs=cross_refs(nct, ident),
        title=n.text(ident.get("briefTitle")) or n.text(ident.get("officialTitle")),
        sponsor_name=n.text(_d(sponsor, "name")),
        phases=n.phases_from_values(n.as_list(design.get("phases"))),
        study_type=n.study_type(design.get("studyType")),
        fda_regulated_drug=n.yes_no(oversight.get("isFdaRegulatedDrug")),
        fda_regulated_device=n.yes_no(oversight.get("isFdaRegulatedDevice")),
        healthy_volunteers=n.yes_no(elig.get("healthyVolunteers")),
        age_groups=groups,
        paediatric=n.paediatric_from_groups(groups),
        countries=countries,
        overall_status=n.status(status.get("overallStatus")),
        start=start,
        primary_completion=primary,
        completion=completion,
    )


def documents(doc: dict):
    """The studies inside one top-level v2 document (a study or an API results page)."""
    if "protocolSection" in doc:
        yield doc
    else:
        yield from n.as_list(doc.get("studies"))
