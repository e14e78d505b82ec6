"""Retired ClinicalTrials.gov "classic" formats.

* classic XML ``<clinical_study>`` (one or more per file, streamed),
* classic API v1 JSON: ``{"Rank", "Study": {"ProtocolSection", ...}}`` items and whole
  ``{"FullStudiesResponse": {..., "FullStudies": [...]}}`` responses,
* ctrdata's conversion of the classic XML to JSON (XML element names kept).

All three are translated into the v2 study shape and read by ``ctgov_v2.extract`` so that
every ClinicalTrials.gov record is normalised by the same code.
"""

from __future__ import annotations

from . import ctgov_v2
from . import normalise as n
from .model import Rejected


def _d(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def _t(obj, *path):
    for key in path:
        obj = _d(obj, key)
    return n.text(obj)


def _attr(obj, name):
    attrs = _d(obj, "@attributes")
    return n.text(_d(attrs, name))


# --------------------------------------------------------------------------- classic XML / ctrdata


def classic_xml_to_v2(cs: dict) -> dict:
    """A ``clinical_study`` as a dict (XML element names, as ctrdata stores it) -> v2 shape."""
    id_info = _d(cs, "id_info") or {}
    secondary = [{"id": n.text(s)} for s in n.as_list(id_info.get("secondary_id"))]
    countries = []
    for loc in n.as_list(cs.get("location")):
        countries.append(_t(loc, "facility", "address", "country"))
    for c in n.as_list(_d(cs.get("location_countries"), "country")):
        countries.append(n.text(c))
    elig = _d(cs, "eligibility") or {}
    oversight = _d(cs, "oversight_info") or {}

    def struct(key):
        value = cs.get(key)
        return {"date": n.text(value), "type": _attr(value, "type")}

    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": n.text(id_info.get("nct_id")),
                "secondaryIdInfos": secondary,
                "briefTitle": n.text(cs.get("brief_title")),
                "officialTitle": n.text(cs.get("official_title")),
            },
            "statusModule": {
                "overallStatus": n.text(cs.get("overall_status")),
                "studyFirstSubmitDate": n.text(cs.get("study_first_submitted"))
                or n.text(cs.get("firstreceived_date")),
                "studyFirstPostDateStruct": struct("study_first_posted"),
                "resultsFirstPostDateStruct": {
                    "date": n.text(cs.get("results_first_posted"))
                    or n.text(cs.get("firstreceived_results_date"))
                },
                "lastUpdatePostDateStruct": {
                    "date": n.text(cs.get("last_update_posted"))
                    or n.text(cs.get("lastchanged_date"))
                },
                "startDateStruct": struct("start_date"),
                "primaryCompletionDateStruct": struct("primary_completion_date"),
                "completionDateStruct": struct("completion_date"),
            },
            "sponsorCollaboratorsModule": {
                "leadSponsor": {"name": _t(cs, "sponsors", "lead_sponsor", "agency")}
            },
            "oversightModule": {
                "isFdaRegulatedDrug": n.text(oversight.get("is_fda_regulated_drug")),
                "isFdaRegulatedDevice": n.text(oversight.get("is_fda_regulated_device")),
            },
            "designModule": {
                "studyType": n.text(cs.get("study_type")),
                "phases": [n.text(p) for p in n.as_list(cs.get("phase"))],
            },
            "eligibilityModule": {
                "healthyVolunteers": n.text(elig.get("healthy_volunteers")),
                "minimumAge": n.text(elig.get("minimum_age")),
                "maximumAge": n.text(elig.get("maximum_age")),
            },
            "contactsLocationsModule": {"locations": [{"country": c} for c in countries if c]},
        }
    }


def extract_classic(cs: dict, source_file: str, locator: str | None = None):
    return ctgov_v2.extract(classic_xml_to_v2(cs), source_file, locator)


# --------------------------------------------------------------------------- classic API v1 JSON


def classic_api_to_v2(study: dict) -> dict:
    ps = _d(study, "ProtocolSection") or {}
    ident = _d(ps, "IdentificationModule") or {}
    status = _d(ps, "StatusModule") or {}
    design = _d(ps, "DesignModule") or {}
    elig = _d(ps, "EligibilityModule") or {}
    oversight = _d(ps, "OversightModule") or {}
    secondary = [
        {
            "id": n.text(_d(s, "SecondaryId")),
            "type": n.text(_d(s, "SecondaryIdType")),
            "domain": n.text(_d(s, "SecondaryIdDomain")),
        }
        for s in n.as_list(_d(ident.get("SecondaryIdInfoList"), "SecondaryIdInfo"))
        if isinstance(s, dict)
    ]
    location_list = _d(_d(ps, "ContactsLocationsModule"), "LocationList")
    locations = [
        {"country": n.text(_d(loc, "LocationCountry"))}
        for loc in n.as_list(_d(location_list, "Location"))
    ]

    def struct(name):
        s = status.get(f"{name}DateStruct")
        return {"date": n.text(_d(s, f"{name}Date")), "type": n.text(_d(s, f"{name}DateType"))}

    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": n.text(ident.get("NCTId")),
                "secondaryIdInfos": secondary,
                "briefTitle": n.text(ident.get("BriefTitle")),
                "officialTitle": n.text(ident.get("OfficialTitle")),
            },
            "statusModule": {
                "overallStatus": n.text(status.get("OverallStatus")),
                "studyFirstSubmitDate": n.text(status.get("StudyFirstSubmitDate")),
                "studyFirstPostDateStruct": struct("StudyFirstPost"),
                "resultsFirstPostDateStruct": struct("ResultsFirstPost"),
                "lastUpdatePostDateStruct": struct("LastUpdatePost"),
                "startDateStruct": struct("Start"),
                "primaryCompletionDateStruct": struct("PrimaryCompletion"),
                "completionDateStruct": struct("Completion"),
            },
            "sponsorCollaboratorsModule": {
                "leadSponsor": {
                    "name": _t(ps, "SponsorCollaboratorsModule", "LeadSponsor", "LeadSponsorName")
                }
            },
            "oversightModule": {
                "isFdaRegulatedDrug": n.text(oversight.get("IsFDARegulatedDrug")),
                "isFdaRegulatedDevice": n.text(oversight.get("IsFDARegulatedDevice")),
            },
            "designModule": {
                "studyType": n.text(design.get("StudyType")),
                "phases": n.as_list(_d(design.get("PhaseList"), "Phase")),
            },
            "eligibilityModule": {
                "healthyVolunteers": n.text(elig.get("HealthyVolunteers")),
                "minimumAge": n.text(elig.get("MinimumAge")),
                "maximumAge": n.text(elig.get("MaximumAge")),
                "stdAges": n.as_list(_d(elig.get("StdAgeList"), "StdAge")),
            },
            "contactsLocationsModule": {"locations": locations},
        }
    }


def api_studies(doc: dict):
    """(locator, Study) pairs of a classic API document: one item or a whole response."""
    response = doc.get("FullStudiesResponse")
    if isinstance(response, dict):
        for i, item in enumerate(n.as_list(response.get("FullStudies")), 1):
            yield f"FullStudies item {i}", item
    else:
        yield None, doc


def extract_api(item: dict, source_file: str, locator: str | None = None):
    study = _d(item, "Study")
    if not isinstance(study, dict):
        return Rejected(source_file, locator or "", "classic API item without Study")
    return ctgov_v2.extract(classic_api_to_v2(study), source_file, locator)


def read_xml(fp, source_file: str):
    """Classic XML: every ``<clinical_study>`` in the file (normally one), streamed."""
    from .model import safe_extract
    from .streams import XMLBroken, iter_xml, xml_to_dict

    index = 0
    for elem in iter_xml(fp, frozenset({"clinical_study"})):
        if isinstance(elem, XMLBroken):
            where = f"after clinical_study {index}" if index else ""
            yield Rejected(source_file, where, elem.describe())
            return
        index += 1
        study = xml_to_dict(elem)
        if not isinstance(study, dict):
            yield Rejected(source_file, f"clinical_study {index}", "empty clinical_study")
            continue
        result = safe_extract(extract_classic, source_file, None, study, source_file)
        if isinstance(result, Rejected) and not result.record:
            result = Rejected(source_file, f"clinical_study {index}", result.reason)
        yield result
