"""EUCTR keeps one record per member state of a trial under one EudraCT number: the importer
combines them into one registry entry (countries of all, facts of the UK record)."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import RegistryEntry, Trial
from portal.services import imports

FOLDER = "eu/euctr-ctrdata-demo-json"
TRIAL = "2012-003632-23"  # records from AT, CZ, DE, GB and SE
STATES = ["Austria", "Czechia", "Germany", "Sweden", "United Kingdom"]


def euctr_entry(registry_id: str = TRIAL) -> RegistryEntry:
    db.session.expire_all()
    return db.session.execute(
        sa.select(RegistryEntry).where(
            RegistryEntry.registry_name == "EUCTR", RegistryEntry.registry_id == registry_id
        )
    ).scalar_one()


def copy(samples, tmp_path, names):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(samples / FOLDER / name, folder / name)
    return folder


def test_member_state_records_make_one_entry_with_every_country(app, samples):
    _, report = imports.import_paths([str(samples / FOLDER)])
    entry = euctr_entry()
    document = entry.record
    assert sorted(document["member_states"]) == STATES
    assert document["primary_member_state"] == "United Kingdom"
    assert sorted(document["facts"]["countries"]) == STATES
    trial = db.session.get(Trial, entry.trial_id)
    assert trial.uk_site is True
    assert sorted(trial.imported_facts["countries"]["value"]) == STATES
    # one trial per EudraCT number, whatever the number of member-state records
    trials = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(RegistryEntry.trial_id))).where(
            RegistryEntry.registry_name == "EUCTR"
        )
    )
    assert trials == len({e.registry_id for e in db.session.scalars(sa.select(RegistryEntry))})

    # importing the same files again changes nothing
    _, again = imports.import_paths([str(samples / FOLDER)])
    assert again["unchanged"] == again["records_seen"] == report["records_seen"]
    assert euctr_entry().content_hash == entry.content_hash


@pytest.mark.parametrize(
    "order",
    [
        ["2012-003632-23-AT.json", "2012-003632-23-GB.json", "2012-003632-23-SE.json"],
        ["2012-003632-23-SE.json", "2012-003632-23-AT.json", "2012-003632-23-GB.json"],
    ],
)
def test_the_uk_record_supplies_the_facts_whichever_order_they_come_in(
    app, samples, tmp_path, order
):
    for i, name in enumerate(order):  # one run per file: each combines with what is stored
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        shutil.copy(samples / FOLDER / name, folder / name)
        _, report = imports.import_paths([str(folder)])
        assert report["rejected"] == []
    document = euctr_entry().record
    assert document["primary_member_state"] == "United Kingdom"
    assert sorted(document["member_states"]) == ["Austria", "Sweden", "United Kingdom"]
    assert document["source_record"] == "2012-003632-23-GB"
    assert document["entry"]["url"].endswith("/GB")
