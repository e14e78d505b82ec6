"""Format detection from the first bytes of a file (never from its name)."""

from __future__ import annotations

import csv
import io
import re

from .streams import GZIP_MAGIC, ZIP_MAGIC, first_char

# Formats with a reader.
FORMATS = (
    "ctgov-v2-json",
    "ctgov-classic-xml",
    "ctgov-classic-api-json",
    "ctgov-classic-ctrdata-json",
    "isrctn-xml",
    "isrctn-ctrdata-json",
    "isrctn-csv",
    "ictrp-xml",
    "ictrp-csv",
    "euctr-ctrdata-json",
    "ctis-ctrdata-json",
    "euctr-text",
    "euctr-scrape-csv",
)
# Recognised but deliberately not read: every file of these kinds yields one Rejected.
REJECTED_FORMATS = {
    "euctr-html": "EUCTR HTML page: not a supported export (use the EUCTR full-text "
    "download or a ctrdata export)",
    "eu-trials-tracker": "EU Trials Tracker file: derived data (trial x sponsor summary "
    "rows), not a registry export",
}
CONTAINERS = ("zip", "gzip")


# (format, characteristic top-level keys)
_JSON_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ctgov-classic-api-json", ("FullStudiesResponse", "ProtocolSection")),
    ("ctgov-v2-json", ("protocolSection",)),
    ("ctgov-classic-ctrdata-json", ("required_header", "id_info")),
    ("isrctn-ctrdata-json", ("trialDescription", "externalRefs")),
    (
        "euctr-ctrdata-json",
        (
            "a2_eudract_number",
            "x6_date_on_which_this_record_was_first_entered_in_the_eudract_database",
            "a1_member_state_concerned",
            "x4_clinical_trial_type",
        ),
    ),
    ("ctis-ctrdata-json", ("ctNumber", "ctStatus", "authorizedApplication")),
    (
        "eu-trials-tracker",
        ("name_of_sponsor", "normalized_name", "percent_reported", "inconsistent_trials"),
    ),
)
_CTRNAME_RE = re.compile(rb'"ctrname"\s*:\s*"(\w+)"')
_CTRNAME_FORMAT = {
    b"CTGOV2": "ctgov-v2-json",
    b"CTGOV": "ctgov-classic-ctrdata-json",
    b"ISRCTN": "isrctn-ctrdata-json",
    b"EUCTR": "euctr-ctrdata-json",
    b"CTIS": "ctis-ctrdata-json",
}

_ISRCTN_XML_RE = re.compile(rb"67bricks\.com/isrctn|<(?:\w+:)?(?:allTrials|fullTrial)[\s>]")
_HTML_RE = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_EUCTR_TEXT_RE = re.compile(rb"^EudraCT Number:\s*\d{4}-\d{6}-\d{2}", re.MULTILINE)


def detect_format(head: bytes) -> str | None:
    """Name of the format of a file from its first few KB (see FORMATS), "zip"/"gzip" for
    containers, a REJECTED_FORMATS name for known non-registry files, None if unknown."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    start = first_char(head)
    if start in "{[" and start:
        return _detect_json(head)
    if start == "<":
        return _detect_xml(head)
    return _detect_text(head)


def detect_json_document(keys) -> str | None:
    """Format of one decoded JSON document from its top-level keys (used for each item
    of a JSON array, so mixed arrays are read correctly)."""
    if not isinstance(keys, dict):
        return None
    if "FullStudiesResponse" in keys or "Study" in keys and "Rank" in keys:
        return "ctgov-classic-api-json"
    if "protocolSection" in keys:
        return "ctgov-v2-json"
    studies = keys.get("studies")
    if isinstance(studies, list) and studies and isinstance(studies[0], dict):
        if "protocolSection" in studies[0]:  # an API v2 results page
            return "ctgov-v2-json"
    if "required_header" in keys or "id_info" in keys:
        return "ctgov-classic-ctrdata-json"
    if "trialDescription" in keys or "isrctn" in keys and "externalRefs" in keys:
        return "isrctn-ctrdata-json"
    if any(k in keys for k in ("a2_eudract_number", "x4_clinical_trial_type", "eudractNumber")):
        return "euctr-ctrdata-json"
    if "ctNumber" in keys or "authorizedApplication" in keys or "ctStatus" in keys:
        return "ctis-ctrdata-json"
    if "name_of_sponsor" in keys or "normalized_name" in keys or "percent_reported" in keys:
        return "eu-trials-tracker"
    ctrname = keys.get("ctrname")
    if isinstance(ctrname, str):
        return _CTRNAME_FORMAT.get(ctrname.encode())
    return None


_JSON_KEY_FORMAT = {name.encode(): fmt for fmt, names in _JSON_KEYS for name in names}
_JSON_ANY_KEY_RE = re.compile(
    rb'"(' + b"|".join(re.escape(k) for k in _JSON_KEY_FORMAT) + rb')"\s*:'
)


def _detect_json(head: bytes) -> str | None:
    # the first characteristic key met belongs to the outermost / first record
    m = _JSON_ANY_KEY_RE.search(head)
    if m:
        return _JSON_KEY_FORMAT[m[1]]
    m = _CTRNAME_RE.search(head)
    if m:
        return _CTRNAME_FORMAT.get(m[1])
    return None


def _detect_xml(head: bytes) -> str | None:
    if b"<clinical_study" in head:
        return "ctgov-classic-xml"
    if b"<Trials_downloaded_from_ICTRP" in head:
        return "ictrp-xml"
    if _ISRCTN_XML_RE.search(head):
        return "isrctn-xml"
    if _HTML_RE.search(head):
        if b"clinicaltrialsregister" in head or b"/ctr-search/" in head:
            return "euctr-html"
        return None
    return None


def _csv_header(head: bytes) -> list[str] | None:
    text = head[:16384].decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0].strip("\r")
    if not first or ("," not in first and ";" not in first and "\t" not in first):
        return None
    try:
        dialect = csv.excel_tab if first.count("\t") > first.count(",") else csv.excel
        row = next(csv.reader(io.StringIO(first), dialect))
    except (csv.Error, StopIteration):
        return None
    return [c.strip().lower() for c in row]


def _detect_text(head: bytes) -> str | None:
    if _EUCTR_TEXT_RE.search(head):
        return "euctr-text"
    header = _csv_header(head)
    if not header:
        return None
    cols = set(header)
    if header[0] == "isrctn" and (
        "overall trial start" in cols or "overall trial status" in cols or "basic results" in cols
    ):
        return "isrctn-csv"
    if "trialid" in cols and ("source register" in cols or "public title" in cols):
        return "ictrp-csv"
    if "trial_id" in cols and {"countries", "status_list"} <= cols:
        return "euctr-scrape-csv"
    if "trial_id" in cols and ({"number_of_countries", "has_results", "name_of_sponsor"} & cols):
        return "eu-trials-tracker"
    return None
