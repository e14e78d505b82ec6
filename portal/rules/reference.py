"""Reference lists the rules need: registry names and the countries that trigger each rule set."""

from __future__ import annotations

import functools

__all__ = [
    "EU_EEA_COUNTRIES",
    "REGISTRIES",
    "UK_COUNTRIES",
    "US_COUNTRIES",
    "canonical_registry",
    "country_key",
]

# UK-REG accepts "a WHO ICTRP primary or partner registry, or a data provider to it" (RULES.md
# uk-2026). The canonical names below are the WHO ICTRP primary registries plus the data providers
# the portal imports from (ClinicalTrials.gov, CTIS); each maps to the spellings accepted as input.
REGISTRIES: dict[str, tuple[str, ...]] = {
    "ISRCTN": ("isrctn",),
    "ClinicalTrials.gov": ("clinicaltrials.gov", "clinicaltrials", "ct.gov", "ctgov", "nct"),
    "CTIS": ("ctis", "eu ctis", "euct", "clinical trials information system"),
    "EUCTR": ("euctr", "eu-ctr", "eudract", "eu clinical trials register"),
    "ANZCTR": ("anzctr",),
    "ChiCTR": ("chictr",),
    "CRiS": ("cris",),
    "CTRI": ("ctri",),
    "DRKS": ("drks",),
    "IRCT": ("irct",),
    "ITMCTR": ("itmctr",),
    "jRCT": ("jrct",),
    "JPRN": ("jprn",),
    "UMIN-CTR": ("umin-ctr", "umin"),
    "LBCTR": ("lbctr",),
    "OMON": ("omon", "nl-omon", "ntr", "netherlands trial register"),
    "PACTR": ("pactr",),
    "ReBEC": ("rebec",),
    "REPEC": ("repec",),
    "RPCEC": ("rpcec",),
    "SLCTR": ("slctr",),
    "TCTR": ("tctr",),
}

_REGISTRY_LOOKUP = {
    alias: name for name, aliases in REGISTRIES.items() for alias in (name.lower(), *aliases)
}


def canonical_registry(name: str) -> str | None:
    """The canonical registry name for `name` (any accepted spelling), or None if unknown."""
    return _REGISTRY_LOOKUP.get(name.strip().lower())


@functools.lru_cache(maxsize=4096)
def country_key(name: str) -> str:
    """Normalise a country name for matching (case, spaces, a leading "the")."""
    key = " ".join(name.lower().replace(".", "").split())
    return key[4:] if key.startswith("the ") else key


UK_COUNTRIES = frozenset(
    {
        "united kingdom",
        "uk",
        "gb",
        "great britain",
        "england",
        "scotland",
        "wales",
        "northern ireland",
        "united kingdom of great britain and northern ireland",
    }
)

US_COUNTRIES = frozenset({"united states", "united states of america", "usa", "us"})

# EU member states plus the EEA states (Iceland, Liechtenstein, Norway), which apply Regulation
# (EU) No 536/2014 through the EEA Agreement.
EU_EEA_COUNTRIES = frozenset(
    {
        "austria",
        "belgium",
        "bulgaria",
        "croatia",
        "cyprus",
        "czechia",
        "czech republic",
        "denmark",
        "estonia",
        "finland",
        "france",
        "germany",
        "greece",
        "hungary",
        "ireland",
        "italy",
        "latvia",
        "lithuania",
        "luxembourg",
        "malta",
        "netherlands",
        "poland",
        "portugal",
        "romania",
        "slovakia",
        "slovak republic",
        "slovenia",
        "spain",
        "sweden",
        "iceland",
        "liechtenstein",
        "norway",
    }
)
