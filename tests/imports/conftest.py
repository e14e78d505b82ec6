"""Helpers for the import tests: small record files taken from the project's registry samples
(the ``samples`` fixture, tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CTGOV_FILE = "ctgov-v2-json/aact-fixtures/NCT00763412.json"  # NCT00763412, completion 2013-01
ISRCTN_FILE = "isrctn/ctrdata-demo-json/17473621.json"  # ISRCTN17473621, no cross-references


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def ctgov(samples: Path) -> dict:
    """A real CT.gov v2 study (NCT00763412), to copy and change."""
    return load_json(samples / CTGOV_FILE)


@pytest.fixture
def isrctn(samples: Path) -> dict:
    """A real ISRCTN record (ISRCTN17473621, ctrdata JSON), to copy and change."""
    return load_json(samples / ISRCTN_FILE)


def copy_sample(samples: Path, relative: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(relative).name
    shutil.copyfile(samples / relative, target)
    return target


def cross_reference(ctgov: dict, isrctn: dict) -> tuple[dict, dict]:
    """The two records naming each other (CT.gov secondary id, ISRCTN external reference)."""
    ident = ctgov["protocolSection"]["identificationModule"]
    ident["secondaryIdInfos"] = [
        *ident.get("secondaryIdInfos", []),
        {"id": "ISRCTN" + str(isrctn["isrctn"]), "type": "REGISTRY", "domain": "ISRCTN"},
    ]
    isrctn["externalRefs"]["clinicalTrialsGovNumber"] = ident["nctId"]
    return ctgov, isrctn
