"""EU registers.

* EUCTR as stored by ctrdata (the EUCTR protocol text download converted to JSON, keys such
  as ``a2_eudract_number``; results XML fields such as ``trialInformation`` where present),
* the EUCTR "full trial details" plain-text download (one block per member-state record),
* CTIS records as stored by ctrdata (older search-list + full-record shape and the newer
  ``authorizedApplication`` shape),
* the DIRECCT EUCTR scrape CSV (one row per trial, Python-literal list columns).

An EUCTR record is one member state's record of a trial: ``registry_id`` is the EudraCT
number without the member-state suffix and ``source_record`` carries the suffix
("2012-003632-23-GB"); ``countries`` is that member state ("GB" -> "United Kingdom").
Known non-registry files (EUCTR HTML pages, EU Trials Tracker fixtures) are rejected.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator

from . import normalise as n
from .model import Rejected, TrialRecord, make_record
from .streams import CSVBroken, iter_csv, text_view

EUCTR = "EUCTR"
CTIS = "CTIS"
EUCTR_URL = "https://www.clinicaltrialsregister.eu/ctr-search/trial/{id}/{ms}"
CTIS_URL = "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT={id}"


def _d(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def _t(obj, *path):
    for key in path:
        obj = _d(obj, key)
    return n.text(obj)


# --------------------------------------------------------------------------- EUCTR protocol


def _member_state(d: dict) -> tuple[str | None, str]:
    """(country name, code used in EUCTR links: "GB", "DE", ... or "3RD")."""
    authority = n.text(d.get("a1_member_state_concerned")) or n.text(
        d.get("x3_national_competent_authority")
    )
    if authority:
        name = n.country(authority.split(" - ", 1)[0])
        code = n.COUNTRY_TO_ISO2.get(name or "")
        if code:
            return name, code
    link = n.text(d.get("x7_link")) or ""
    m = re.search(r"/trial/\d{4}-\d{6}-\d{2}/([A-Za-z0-9]+)/?$", link)
    if m:
        code = m[1].upper()
        return n.country_from_code(code), code
    if authority:
        return n.country(authority.split(" - ", 1)[0]), "?"
    if (n.text(d.get("x4_clinical_trial_type")) or "").lower().startswith("outside"):
        return None, "3RD"
    return None, "?"


def _euctr_sponsor(d: dict) -> str | None:
    for sponsor in n.as_list(d.get("b1_sponsor")):
        name = _t(sponsor, "b11_name_of_sponsor")
        if name:
            return html.unescape(name)
    for key in ("b11_name_of_sponsor", "sponsor"):
        name = n.text(d.get(key))
        if name:
            return html.unescape(name)
    info = _d(d, "trialInformation")
    sponsors = n.as_list(_d(_d(info, "sponsors"), "sponsor"))
    for sponsor in sponsors:
        name = _t(sponsor, "organisationName")
        if name:
            return html.unescape(name)
    return None


def _euctr_groups(d: dict) -> tuple[str, ...]:
    groups = []
    if n.yes_no(d.get("f11_trial_has_subjects_under_18")):
        groups.append("child")
    if n.yes_no(d.get("f12_adults_1864_years")):
        groups.append("adult")
    if n.yes_no(d.get("f13_elderly_65_years")):
        groups.append("older_adult")
    return tuple(groups)


_EUCTR_PHASE_KEYS = (
    ("e71_human_pharmacology_phase_i", "1"),
    ("e72_therapeutic_exploratory_phase_ii", "2"),
    ("e73_therapeutic_confirmatory_phase_iii", "3"),
    ("e74_therapeutic_use_phase_iv", "4"),
)


def extract_euctr(d: dict, source_file: str, locator: str | None = None):
    raw_id = (
        n.text(d.get("a2_eudract_number"))
        or n.text(d.get("eudractNumber"))
        or n.text(d.get("x1_eudract_number"))
    )
    if not raw_id:
        if "a2_eudract_number" in d or "x4_clinical_trial_type" in d:
            return Rejected(source_file, locator or "", "missing trial id")
        return Rejected(
            source_file, locator or "", "EUCTR JSON of an unknown structure: no EudraCT number"
        )
    eudract = n.eudract_id(raw_id)
    if eudract is None:
        return Rejected(source_file, locator or raw_id, f"malformed EudraCT number {raw_id!r}")
    country, ms = _member_state(d)
    where = locator or f"{eudract}-{ms}"
    info = _d(d, "trialInformation") or {}
    try:
        registered = n.to_date(
            d.get("x6_date_on_which_this_record_was_first_entered_in_the_eudract_database"),
            "date first entered in the EudraCT database",
        )
        completion = n.date_value(
            d.get("p_date_of_the_global_end_of_the_trial"),
            "date of the global end of the trial",
            True,
        ) or n.date_value(_t(info, "globalEndOfTrialDate"), "global end of trial date", True)
        primary = n.date_value(_t(info, "primaryCompletionDate"), "primary completion date", True)
        start = n.date_value(_t(info, "recruitmentStartDate"), "recruitment start date", True)
    except n.BadValue as err:
        return Rejected(source_file, where, str(err))
    refs = {"eudract": eudract}
    for key in (
        "a52_us_nct_clinicaltrialsgov_registry_number",
        "a51_isrctn_international_standard_randomised_controlled_trial_number",
        "a54_other_identifiers",
    ):
        n.refs_from_free_text(n.text(d.get(key)), refs)
    n.refs_from_free_text(_t(info, "usctnIdentifier"), refs)
    isrctn = n.isrctn_id(_t(info, "isrctnIdentifier"), bare_digits=True)
    if isrctn:
        refs.setdefault("isrctn", isrctn)
    phases = n.sort_phases({p for key, p in _EUCTR_PHASE_KEYS if n.yes_no(d.get(key))})
    groups = _euctr_groups(d)
    paediatric = n.yes_no(d.get("f11_trial_has_subjects_under_18"))
    if paediatric is None:
        paediatric = n.paediatric_from_groups(groups)
    status = n.text(d.get("p_end_of_trial_status")) or n.text(d.get("x5_trial_status"))
    title = n.text(d.get("a3_full_title_of_the_trial")) or n.text(
        d.get("a31_title_of_the_trial_for_lay_people_in_easily_understood_ie_nontechnical_language")
    )
    return make_record(
        registry=EUCTR,
        registry_id=eudract,
        source_file=source_file,
        source_record=where,
        registered_on=registered,
        url=n.text(d.get("x7_link")) or EUCTR_URL.format(id=eudract, ms=ms),
        cross_refs=refs,
        title=html.unescape(title) if title else None,
        sponsor_name=_euctr_sponsor(d),
        phases=phases,
        study_type="interventional",  # EUCTR holds clinical trials of medicinal products
        healthy_volunteers=n.yes_no(d.get("f31_healthy_volunteers")),
        age_groups=groups,
        paediatric=paediatric,
        countries=(country,) if country else (),
        overall_status=n.status(status),
        start=start,
        primary_completion=primary,
        completion=completion,
    )


# --------------------------------------------------------------------------- EUCTR full text

_LINE_RE = re.compile(r"^([A-Z])\.([0-9.]*)[ \t]+(.*?):(?:[ \t]+(.*))?$")
_SUMMARY_KEYS = {
    "EudraCT Number": "x1_eudract_number",
    "Sponsor's Protocol Code Number": "x2_sponsors_protocol_code_number",
    "National Competent Authority": "x3_national_competent_authority",
    "Clinical Trial Type": "x4_clinical_trial_type",
    "Trial Status": "x5_trial_status",
    "Date on which this record was first entered in the EudraCT database": (
        "x6_date_on_which_this_record_was_first_entered_in_the_eudract_database"
    ),
    "Link": "x7_link",
}


def text_key(code_letter: str, code_digits: str, label: str) -> str:
    """ctrdata's field name for a line of the EUCTR text download:
    "F.1.1.2 Preterm newborn infants (up to gestational age < 37 weeks)" ->
    "f112_preterm_newborn_infants_up_to_gestational_age__37_weeks"."""
    slug = re.sub(r"[^a-z0-9 _]", "", label.lower()).strip().replace(" ", "_")
    return f"{code_letter.lower()}{code_digits.replace('.', '')}_{slug}"


def read_euctr_text(fp, head: bytes, source_file: str) -> Iterator[TrialRecord | Rejected]:
    with text_view(fp, head) as lines:
        yield from _euctr_text_blocks(lines, source_file)


def _euctr_text_blocks(lines, source_file: str) -> Iterator[TrialRecord | Rejected]:
    block: dict | None = None
    sponsor_seen = False
    count = 0
    for raw_line in lines:
        line = raw_line.rstrip("\r\n")
        if line.strip() == "Summary":
            if block is not None:
                count += 1
                yield extract_euctr(block, source_file)
            block, sponsor_seen = {}, False
            continue
        if block is None or not line.strip():
            continue
        label, sep, value = line.partition(":")
        if sep and label in _SUMMARY_KEYS:
            block.setdefault(_SUMMARY_KEYS[label], value.strip())
            continue
        m = _LINE_RE.match(line)
        if not m:
            continue
        key = text_key(m[1], m[2], m[3])
        if key == "b11_name_of_sponsor":
            if sponsor_seen:
                continue
            sponsor_seen = True
        block.setdefault(key, (m[4] or "").strip())
    if block is not None:
        count += 1
        yield extract_euctr(block, source_file)
    if count == 0:
        yield Rejected(source_file, "", "EUCTR text without any Summary block")


# --------------------------------------------------------------------------- CTIS

_CTIS_STATUS_CODES = {4: "Ongoing, recruiting"}  # the only code the samples explain
_DATE_IN_TEXT_RE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}")
_AGE_TEXT = {"0-17": "child", "18-64": "adult", "65+": "older_adult"}
_AGE_CODES = {"2": "child", "3": "adult", "4": "older_adult"}


def _ctis_part1(d: dict) -> dict:
    return _d(d, "authorizedPartI") or _d(_d(d, "authorizedApplication"), "authorizedPartI") or {}


def _ctis_countries(d: dict, part1: dict) -> list[str | None]:
    names: list[str | None] = []
    for msc in n.as_list(d.get("memberStatesConcerned")):
        names.append(_t(msc, "countryName") or _t(msc, "mscName"))
    for msc in n.as_list(_d(_d(d, "authorizedApplication"), "memberStatesConcerned")):
        names.append(_t(msc, "mscName") or _t(msc, "countryName"))
    if not any(names):
        trial_countries = d.get("trialCountries")
        if isinstance(trial_countries, str):
            names += [
                n.country_from_code(c) for c in re.findall(r"\b([A-Z]{2})\s*:", trial_countries)
            ]
        else:
            names += [str(c).split(":", 1)[0] for c in n.as_list(trial_countries)]
    # countries outside the EEA where the trial also runs ("rest of world")
    names += [_t(c, "name") for c in n.as_list(part1.get("rowCountriesInfo"))]
    return names


def _ctis_sponsor(d: dict, part1: dict) -> str | None:
    name = _t(d, "primarySponsor", "organisation", "name")
    if name:
        return name
    sponsors = n.as_list(part1.get("sponsors"))
    for sponsor in sorted(sponsors, key=lambda s: not _d(s, "primary")):
        name = _t(sponsor, "organisation", "name")
        if name:
            return name
    return None


def _ctis_refs(euct: str, d: dict, part1: dict) -> dict[str, str]:
    refs = {"euct": euct}
    eudract = _t(d, "eudraCtInfo", "eudraCtCode") or _t(
        d, "authorizedApplication", "eudraCt", "eudraCtCode"
    )
    if n.eudract_id(eudract):
        refs["eudract"] = n.eudract_id(eudract)
    ids = _d(
        _d(_d(part1, "trialDetails"), "clinicalTrialIdentifiers"), "secondaryIdentifyingNumbers"
    )
    n.refs_from_free_text(_t(ids, "nctNumber", "number"), refs)
    isrctn = n.isrctn_id(_t(ids, "isrctnNumber", "number"), bare_digits=True)
    if isrctn:
        refs.setdefault("isrctn", isrctn)
    for other in n.as_list(_d(ids, "additionalRegistries")):
        n.refs_from_free_text(_t(other, "number"), refs)
    return refs


def _ctis_groups(d: dict, part1: dict) -> tuple[str, ...]:
    groups = set()
    age_text = n.text(d.get("ageGroup")) or ""
    for token, group in _AGE_TEXT.items():
        if token in age_text:
            groups.add(group)
    if not groups:
        population = _d(
            _d(_d(part1, "trialDetails"), "trialInformation"), "populationOfTrialSubjects"
        )
        for age in n.as_list(_d(population, "ageRanges")):
            group = _AGE_CODES.get(_t(age, "ageRangeCategory") or "")
            if group:
                groups.add(group)
    return n.age_groups(groups)


def _ctis_healthy(part1: dict) -> bool | None:
    population = _d(_d(_d(part1, "trialDetails"), "trialInformation"), "populationOfTrialSubjects")
    names = [
        (_t(g, "name") or "").lower() for g in n.as_list(_d(population, "clinicalTrialGroups"))
    ]
    if not names:
        return None
    return any("healthy" in name for name in names)


def _ctis_registered(d: dict):
    overall = n.text(d.get("decisionDateOverall"))
    if overall:
        return n.to_date(overall, "decision date")
    decision = n.text(d.get("decisionDate"))
    if not decision:
        return n.to_date(n.text(d.get("authorizationDate")), "authorisation date")
    dates = [n.to_date(m, "decision date") for m in _DATE_IN_TEXT_RE.findall(decision)]
    return min(dates) if dates else None


def extract_ctis(d: dict, source_file: str, locator: str | None = None):
    raw_id = n.text(d.get("ctNumber"))
    if not raw_id:
        return Rejected(
            source_file, locator or "", "CTIS JSON of an unknown structure: no ctNumber"
        )
    euct = n.euct_id(raw_id)
    if euct is None:
        return Rejected(source_file, locator or raw_id, f"malformed EU CT number {raw_id!r}")
    where = locator or euct
    part1 = _ctis_part1(d)
    duration = _d(_d(_d(part1, "trialDetails"), "trialInformation"), "trialDuration") or {}
    try:
        registered = _ctis_registered(d)
        updated = n.to_date(n.text(d.get("lastUpdated")), "last updated date")
        start = None
        for key in ("trialStartDate", "startDateEU", "eeaStartDate"):
            start = n.date_value(n.text(d.get(key)), "trial start date", True)
            if start:
                break
        completion = None
        for end in n.as_list(d.get("trialGlobalEnd")) + n.as_list(
            _d(_d(d, "authorizedApplication"), "trialGlobalEnd")
        ):
            found = _DATE_IN_TEXT_RE.search(str(end))
            if found:
                completion = n.date_value(found.group(), "global end of trial date", True)
        if completion is None:
            completion = n.date_value(
                _t(duration, "estimatedGlobalEndDate") or _t(duration, "estimatedEndDate"),
                "estimated end date",
                False,
            )
    except n.BadValue as err:
        return Rejected(source_file, where, str(err))
    status = d.get("ctStatus")
    if not isinstance(status, str):
        status = n.text(d.get("ctPublicStatus")) or _CTIS_STATUS_CODES.get(
            d.get("ctPublicStatusCode") if isinstance(d.get("ctPublicStatusCode"), int) else -1
        )
    identifiers = _d(_d(part1, "trialDetails"), "clinicalTrialIdentifiers")
    title = (
        _t(identifiers, "fullTitle")
        or n.text(d.get("title"))
        or _t(identifiers, "publicTitle")
        or n.text(d.get("shortTitle"))
    )
    groups = _ctis_groups(d, part1)
    return make_record(
        registry=CTIS,
        registry_id=euct,
        source_file=source_file,
        source_record=where,
        registered_on=registered,
        last_updated=updated,
        url=CTIS_URL.format(id=euct),
        cross_refs=_ctis_refs(euct, d, part1),
        title=title,
        sponsor_name=_ctis_sponsor(d, part1),
        phases=n.phases_from_values([n.text(d.get("trialPhase"))]),
        study_type="interventional",  # CTIS holds clinical trials of medicinal products
        healthy_volunteers=_ctis_healthy(part1),
        age_groups=groups,
        paediatric=n.paediatric_from_groups(groups),
        countries=n.countries(_ctis_countries(d, part1)),
        overall_status=n.status(status),
        start=start,
        completion=completion,
    )


# --------------------------------------------------------------------------- DIRECCT scrape CSV


def _literal(raw: str | None, field: str):
    if raw is None or not raw.strip():
        return None
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise n.BadValue(f"unreadable {field} value {raw[:60]!r}") from None


def extract_scrape_row(row: dict, source_file: str, locator: str):
    raw_id = n.text(row.get("trial_id"))
    if not raw_id:
        return Rejected(source_file, locator, "missing trial id")
    eudract = n.eudract_id(raw_id)
    if eudract is None:
        return Rejected(source_file, locator, f"malformed EudraCT number {raw_id!r}")
    where = f"{locator} ({eudract})"
    try:
        codes = _literal(row.get("countries"), "countries") or []
        statuses = _literal(row.get("status_list"), "status_list") or []
        ends = _literal(row.get("global_trial_end_dates"), "global_trial_end_dates") or []
        secondary = _literal(row.get("secondary_ids"), "secondary_ids") or {}
        end_dates = [n.date_value(e, "global end of trial date", True) for e in ends if e]
    except n.BadValue as err:
        return Rejected(source_file, where, str(err))
    refs = {"eudract": eudract}
    if isinstance(secondary, dict):
        n.refs_from_free_text(secondary.get("nct_id"), refs)
        isrctn = n.isrctn_id(secondary.get("isrctn"), bare_digits=True)
        if isrctn:
            refs.setdefault("isrctn", isrctn)
    unique_statuses = list(dict.fromkeys(s for s in statuses if s))
    completion = max(end_dates, key=lambda dv: dv.value) if end_dates else None
    return make_record(
        registry=EUCTR,
        registry_id=eudract,
        source_file=source_file,
        source_record=where,
        url=f"https://www.clinicaltrialsregister.eu/ctr-search/search?query={eudract}",
        cross_refs=refs,
        study_type="interventional",
        countries=n.countries(n.country_from_code(c) or c for c in codes),
        overall_status=n.status("; ".join(unique_statuses)) if unique_statuses else None,
        completion=completion,
    )


def read_scrape_csv(fp, head: bytes, source_file: str) -> Iterator[TrialRecord | Rejected]:
    """One record per trial: identical consecutive rows of a trial (the scrape repeats
    them) are read once; memory stays constant."""
    previous = None
    for row_number, row in iter_csv(fp, head):
        locator = f"row {row_number}"
        if isinstance(row, CSVBroken):
            yield Rejected(source_file, "" if row.fatal else locator, row.msg)
            if row.fatal:
                return
            continue
        content = {k: v for k, v in row.items() if k}  # ignore the pandas index column
        if content == previous:
            continue
        previous = content
        yield extract_scrape_row(row, source_file, locator)
