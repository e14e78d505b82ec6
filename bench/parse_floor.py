"""Parse-speed floor for ClinicalTrials.gov API v2 single-study JSON files.

Generates N synthetic study files by perturbing the real shared samples (new NCT ids,
shifted dates, tagged titles) and times ``portal.registries.iter_records`` over them::

    .venv/bin/python bench/parse_floor.py            # N = 20,000
    .venv/bin/python bench/parse_floor.py --n 100000 --seed 7

``generate_ctgov_v2(out_dir, n, seed)`` is importable for other benchmarks / tests.
Samples come from $REGISTRY_SAMPLES (default: <repo>/../shared/data/registry-samples when it
exists, else the project's tests/data/registry-samples).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def samples_dir() -> Path:
    """$REGISTRY_SAMPLES, else the developer corpus beside the repository, else the project's
    own samples (tests/data/registry-samples), so that a fresh clone can run the benchmark."""
    configured = os.environ.get("REGISTRY_SAMPLES")
    if configured:
        return Path(configured)
    corpus = REPO.parent / "shared/data/registry-samples"
    return corpus if corpus.is_dir() else REPO / "tests/data/registry-samples"


def load_templates(root: Path | None = None) -> list[dict]:
    """The real CT.gov v2 single-study sample files, parsed."""
    root = root or samples_dir() / "ctgov-v2-json"
    templates = []
    for path in sorted(root.rglob("*.json")):
        with open(path, "rb") as fp:
            doc = json.load(fp)
        if isinstance(doc, dict) and isinstance(doc.get("protocolSection"), dict):
            templates.append(doc)
    if not templates:
        raise FileNotFoundError(f"no CT.gov v2 study files under {root}")
    return templates


def _shift(value: str, days: int) -> str:
    """Shift "YYYY-MM-DD" by days, "YYYY-MM" by about days/30 months; other text unchanged."""
    try:
        if len(value) == 10:
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        if len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            index = year * 12 + (month - 1) + round(days / 30.4)
            return f"{index // 12:04d}-{index % 12 + 1:02d}"
    except ValueError:
        pass
    return value


def _perturb(template: str, nct: str, days: int, serial: int) -> dict:
    study = json.loads(template)  # a fresh deep copy, faster than copy.deepcopy
    ps = study["protocolSection"]
    ident = ps.setdefault("identificationModule", {})
    ident["nctId"] = nct
    if isinstance(ident.get("briefTitle"), str):
        ident["briefTitle"] = f"{ident['briefTitle']} [synthetic {serial}]"
    status = ps.get("statusModule")
    if isinstance(status, dict):
        for key, value in status.items():
            if isinstance(value, str) and key.endswith("Date"):
                status[key] = _shift(value, days)
            elif isinstance(value, dict) and isinstance(value.get("date"), str):
                value["date"] = _shift(value["date"], days)
    return study


def generate_ctgov_v2(
    out_dir: str | Path, n: int = 20_000, seed: int = 0, templates_root: Path | None = None
) -> list[Path]:
    """Write ``n`` synthetic single-study v2 files (``NCT9xxxxxxx.json``) into ``out_dir``,
    each a real sample with a new NCT id, dates shifted by up to +/- 3 years and a tagged
    title. Deterministic for a given seed. Returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    templates = [json.dumps(t) for t in load_templates(templates_root)]
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        template = templates[rng.randrange(len(templates))]
        nct = f"NCT9{i:07d}"
        study = _perturb(template, nct, rng.randint(-3 * 365, 3 * 365), i)
        path = out / f"{nct}.json"
        with open(path, "w", encoding="utf-8") as fp:
            json.dump(study, fp, ensure_ascii=False, indent=2)
        paths.append(path)
    return paths


def time_parse(folder: str | Path) -> tuple[int, int, float, float]:
    """(records, rejected, wall seconds, CPU seconds of this process) for iter_records
    over a folder. CPU time is shown too because a shared machine can halve wall-clock
    throughput without the parser getting any slower."""
    from portal.registries import TrialRecord, iter_records

    records = rejected = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for item in iter_records([folder]):
        if isinstance(item, TrialRecord):
            records += 1
        else:
            rejected += 1
    return records, rejected, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of study files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="timed passes (best is reported)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="parse_floor_") as tmp:
        start = time.perf_counter()
        paths = generate_ctgov_v2(tmp, args.n, args.seed)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"generated {len(paths):,} files, {size / 1e6:.0f} MB "
            f"(mean {size / len(paths) / 1e3:.1f} kB) in {time.perf_counter() - start:.1f} s"
        )
        best = best_cpu = 0.0
        for run in range(1, args.runs + 1):
            records, rejected, wall, cpu = time_parse(tmp)
            rate, cpu_rate = records / wall, records / cpu
            print(
                f"run {run}: {records:,} records, {rejected} rejected in {wall:.2f} s "
                f"= {rate:,.0f} records/s wall ({cpu_rate:,.0f} records/s of CPU time)"
            )
            best, best_cpu = max(best, rate), max(best_cpu, cpu_rate)
        print(f"best: {best:,.0f} records/s wall, {best_cpu:,.0f} records/s CPU (target >= 10,000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
