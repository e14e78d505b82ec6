"""ISRCTN: API XML (namespace http://www.67bricks.com/isrctn, ``<allTrials><fullTrial>
<trial>``), ctrdata's JSON conversion of that XML (same element names) and the
search-results CSV export."""

from __future__ import annotations

from collections.abc import Iterator

from . import normalise as n
from .model import Rejected, TrialRecord, make_record
from .streams import CSVBroken, XMLBroken, iter_csv, iter_xml, local, xml_to_dict

REGISTRY = "ISRCTN"


def _d(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def _t(obj, *path):
    for key in path:
        obj = _d(obj, key)
    return n.text(obj)


def _attr(obj, name):
    return n.text(_d(_d(obj, "@attributes"), name))


def _items(obj, outer, inner):
    """Repeated ``<outer><inner>..</inner></outer>`` values, tolerant of ctrdata's
    scalar-for-one-item and of a missing wrapper."""
    wrapped = _d(obj, outer)
    if isinstance(wrapped, dict) and inner in wrapped:
        return n.as_list(wrapped[inner])
    direct = _d(obj, inner)
    return n.as_list(direct)


def _refs(isrctn: str, refs_obj) -> dict[str, str]:
    refs = {"isrctn": isrctn}
    eudract = _t(refs_obj, "eudraCTNumber")
    if eudract:
        euct = n.euct_id(eudract)
        if euct:
            refs["euct"] = euct
        else:
            value = n.eudract_id(eudract)
            if value:
                refs["eudract"] = value
    nct = n.nct_id(_t(refs_obj, "clinicalTrialsGovNumber"))
    if nct:
        refs["nct"] = nct
    iras = n.iras_id(_t(refs_obj, "irasNumber"))
    if iras:
        refs["iras"] = iras
    for other in _items(refs_obj, "secondaryNumbers", "secondaryNumber"):
        n.refs_from_free_text(n.text(other), refs)
    n.refs_from_free_text(_t(refs_obj, "protocolSerialNumber"), refs)
    return refs


def _healthy(participants) -> bool | None:
    kinds = [n.text(k) for k in _items(participants, "participantTypes", "participantType")]
    kinds = [k.lower() for k in kinds if k]
    if not kinds:
        return None
    return any("healthy" in k or k == "mixed" for k in kinds)


def _age_groups(participants) -> tuple[str, ...]:
    lower = _t(participants, "lowerAgeLimit")
    upper = _t(participants, "upperAgeLimit")
    groups = n.age_groups_from_limits(lower, upper) if lower or upper else ()
    if groups:
        return groups
    age_range = (_t(participants, "ageRange") or "").lower()
    if age_range in ("mixed", "all"):
        return ("child", "adult", "older_adult")
    return n.age_groups([age_range])


def extract(
    trial: dict,
    source_file: str,
    locator: str | None = None,
    sponsor_name: str | None = None,
) -> TrialRecord | Rejected:
    """One ISRCTN ``trial`` (dict shaped like the API XML) -> TrialRecord."""
    raw_id = n.text(trial.get("isrctn"))
    if not raw_id:
        return Rejected(source_file, locator or "", "missing trial id")
    isrctn = n.isrctn_id(raw_id, bare_digits=True)
    if isrctn is None:
        return Rejected(source_file, locator or raw_id, f"malformed ISRCTN id {raw_id!r}")
    where = locator or isrctn
    description = _d(trial, "trialDescription") or {}
    design = _d(trial, "trialDesign") or {}
    participants = _d(trial, "participants") or {}
    try:
        registered = n.to_date(_attr(trial.get("isrctn"), "dateAssigned"), "date assigned")
        updated = n.to_date(_attr(trial, "lastUpdated"), "last updated date")
        start = n.date_value(_t(design, "overallStartDate"), "overall start date")
        if start is None:
            start = n.date_value(_t(participants, "recruitmentStart"), "recruitment start date")
        end = n.date_value(_t(design, "overallEndDate"), "overall end date")
    except n.BadValue as err:
        return Rejected(source_file, where, str(err))
    countries = [n.text(c) for c in _items(participants, "recruitmentCountries", "country")]
    countries += [
        _t(centre, "country") for centre in _items(participants, "trialCentres", "trialCentre")
    ]
    phases = n.phases_from_values(
        _t(i, "phase") for i in _items(trial, "interventions", "intervention")
    )
    groups = _age_groups(participants)
    status = _t(design, "overallStatusOverride") or _t(participants, "recruitmentStatusOverride")
    return make_record(
        registry=REGISTRY,
        registry_id=isrctn,
        source_file=source_file,
        source_record=where,
        registered_on=registered,
        last_updated=updated,
        url=f"https://www.isrctn.com/{isrctn}",
        cross_refs=_refs(isrctn, _d(trial, "externalRefs")),
        title=_t(description, "title") or _t(description, "scientificTitle"),
        sponsor_name=sponsor_name,
        phases=phases,
        study_type=n.study_type(_t(design, "primaryStudyDesign")),
        healthy_volunteers=_healthy(participants),
        age_groups=groups,
        paediatric=n.paediatric_from_groups(groups),
        countries=n.countries(countries),
        overall_status=n.status(status),
        start=start,
        completion=end,
    )


# --------------------------------------------------------------------------- API XML


def read_xml(fp, source_file: str) -> Iterator[TrialRecord | Rejected]:
    index = 0
    for elem in iter_xml(fp, frozenset({"fullTrial", "trial"})):
        if isinstance(elem, XMLBroken):
            yield Rejected(source_file, f"after trial {index}" if index else "", elem.describe())
            return
        index += 1
        locator = f"trial {index}"
        if local(elem.tag) == "fullTrial":
            trial_elem = next((c for c in elem if local(c.tag) == "trial"), None)
            if trial_elem is None:
                yield Rejected(source_file, locator, "fullTrial without a trial element")
                continue
            sponsors = [
                (c.findtext("{*}organisation") or c.findtext("organisation") or "").strip()
                for c in elem
                if local(c.tag) == "sponsor"
            ]
            sponsor = "; ".join(s for s in sponsors if s) or None
        else:
            trial_elem, sponsor = elem, None
        trial = xml_to_dict(trial_elem)
        if not isinstance(trial, dict):
            yield Rejected(source_file, locator, "empty trial element")
            continue
        isrctn = n.isrctn_id(n.text(trial.get("isrctn")), bare_digits=True)
        yield extract(trial, source_file, f"{locator} ({isrctn})" if isrctn else locator, sponsor)


# --------------------------------------------------------------------------- search CSV

_CSV_TITLE = ("title", "public_title", "study_title", "scientific_title")
_CSV_SPONSOR = ("sponsor", "sponsor_name", "sponsor_details")
_CSV_COUNTRIES = ("countries_of_recruitment", "recruitment_countries", "countries", "country")
_CSV_PHASE = ("phase", "trial_phase")
_CSV_DESIGN = ("primary_study_design", "study_design")
_CSV_REGISTERED = ("date_assigned", "date_applied", "registration_date", "date_registered")


def _first(row: dict, keys) -> str | None:
    for key in keys:
        value = n.text(row.get(key))
        if value:
            return value
    return None


def read_csv(fp, head: bytes, source_file: str) -> Iterator[TrialRecord | Rejected]:
    for row_number, row in iter_csv(fp, head):
        locator = f"row {row_number}"
        if isinstance(row, CSVBroken):
            yield Rejected(source_file, locator if not row.fatal else "", row.msg)
            if row.fatal:
                return
            continue
        yield extract_csv_row(row, source_file, locator)


def extract_csv_row(row: dict, source_file: str, locator: str) -> TrialRecord | Rejected:
    raw_id = n.text(row.get("isrctn"))
    if not raw_id:
        return Rejected(source_file, locator, "missing trial id")
    isrctn = n.isrctn_id(raw_id, bare_digits=True)
    if isrctn is None:
        return Rejected(source_file, locator, f"malformed ISRCTN id {raw_id!r}")
    locator = f"{locator} ({isrctn})"
    try:
        start = n.date_value(row.get("overall_trial_start"), "overall trial start date")
        end = n.date_value(row.get("overall_trial_end"), "overall trial end date")
        updated = n.to_date(row.get("record_last_updated"), "record last updated date")
        registered = n.to_date(_first(row, _CSV_REGISTERED), "registration date")
    except n.BadValue as err:
        return Rejected(source_file, locator, str(err))
    refs = {"isrctn": isrctn}
    n.refs_from_free_text(row.get("eudract_number"), refs)
    n.refs_from_free_text(row.get("clinicaltrials_gov_number"), refs)
    n.refs_from_free_text(row.get("iras_number"), refs)
    iras = n.iras_id(row.get("iras_number"))
    if iras:
        refs["iras"] = iras
    countries_text = _first(row, _CSV_COUNTRIES)
    countries = n.countries(countries_text.replace(";", ",").split(",")) if countries_text else ()
    return make_record(
        registry=REGISTRY,
        registry_id=isrctn,
        source_file=source_file,
        source_record=locator,
        registered_on=registered,
        last_updated=updated,
        url=f"https://www.isrctn.com/{isrctn}",
        cross_refs=refs,
        title=_first(row, _CSV_TITLE),
        sponsor_name=_first(row, _CSV_SPONSOR),
        phases=n.phases_from_values([_first(row, _CSV_PHASE)]),
        study_type=n.study_type(_first(row, _CSV_DESIGN)),
        countries=countries,
        overall_status=n.status(row.get("overall_trial_status")),
        start=start,
        completion=end,
    )
