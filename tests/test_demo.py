"""`flask demo load` (run by `make run`): the demo has trials on a fresh clone, from the records
shipped with the package, and says on the console how many it loaded and from where."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from portal import demo
from portal.extensions import db
from portal.models import Organisation, SponsorFact, Trial
from tests.conftest import SAMPLES


@pytest.fixture
def no_corpus(monkeypatch, tmp_path):
    """As on a fresh clone: REGISTRY_SAMPLES names no folder and ../shared is absent."""
    monkeypatch.setenv("REGISTRY_SAMPLES", str(tmp_path / "nowhere"))
    monkeypatch.setattr(demo, "CORPUS", tmp_path / "shared" / "data" / "registry-samples")


def demo_org() -> Organisation:
    return db.session.execute(
        sa.select(Organisation).where(Organisation.name == demo.DEMO_ORG["name"])
    ).scalar_one()


def test_the_package_carries_its_demo_records_with_their_licences():
    folder = demo.PACKAGE_RECORDS
    records = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".xml")]
    assert len(records) == 20
    assert (folder / "SOURCES.md").is_file()
    licences = sorted(p.name for p in (folder / "LICENSES").iterdir())
    assert licences == ["ctti-clinicaltrials-aact.LICENSE", "rfhb-ctrdata.LICENSE"]
    sources = (folder / "SOURCES.md").read_text(encoding="utf-8")
    for path in records:  # each file is named in the attribution
        assert path.stem in sources, path


def test_a_fresh_clone_loads_demo_trials_from_the_package(app, no_corpus):
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[0]
    assert line == (
        "Demo trials: imported 20 registry records (18 trials) from the demo records shipped "
        f"with the portal ({demo.PACKAGE_RECORDS}); the demo organisation owns 4 UK trials."
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Trial)) == 18
    org = demo_org()
    owned = db.session.execute(
        sa.select(Trial).where(Trial.owner_organisation_id == org.id).order_by(Trial.id)
    ).scalars()
    owned = list(owned)
    assert len(owned) == 4 and all(t.uk_site for t in owned)
    for trial in owned:  # each has the facts a sponsor would enter
        keys = db.session.scalars(
            sa.select(SponsorFact.key).where(SponsorFact.trial_id == trial.id)
        ).all()
        assert "application_submitted_on" in keys
    # two more UK trials carry names the organisation is registered under (to claim)
    assert len(org.sponsor_names) > 1

    again = app.test_cli_runner().invoke(args=["demo", "load"])
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[0] == (
        "Demo trials: already loaded (18 trials, 4 owned by the demo organisation)."
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Trial)) == 18


def test_registry_samples_wins_when_it_names_a_folder(app, monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "CORPUS", tmp_path / "absent")
    folder: Path = SAMPLES / "isrctn"  # 7 ISRCTN records, 3 with a UK site
    monkeypatch.setenv("REGISTRY_SAMPLES", str(folder))
    demo.load_demo()
    line = demo.load_demo_trials()
    db.session.commit()
    assert line == (
        f"Demo trials: imported 7 registry records (7 trials) from REGISTRY_SAMPLES ({folder}); "
        "the demo organisation owns 3 UK trials."
    )
