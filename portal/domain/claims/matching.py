"""Does a registered sponsor name belong to an organisation? A normalised comparison."""

from __future__ import annotations

import re
import unicodedata

# Legal-form words that registries add or drop at will (issue "Sponsors claim their trials").
LEGAL_FORMS = {
    "ltd",
    "limited",
    "plc",
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "co",
    "corp",
    "corporation",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "bv",
    "nv",
    "srl",
    "spa",
    "ab",
    "as",
    "oy",
    "pty",
    "kk",
    "the",
}


def normalise_sponsor_name(name: str) -> str:
    """Lower case, no accents, apostrophes or punctuation, '&' as 'and', legal forms dropped."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = text.lower().replace("&", " and ").replace("'", "").replace("\u2019", "")
    words = re.findall(r"[a-z0-9]+", text)
    return " ".join(word for word in words if word not in LEGAL_FORMS)


def sponsor_name_matches(registered: str | None, organisation_names: list[str]) -> bool:
    if not registered:
        return False
    wanted = normalise_sponsor_name(registered)
    return bool(wanted) and any(normalise_sponsor_name(n) == wanted for n in organisation_names)
