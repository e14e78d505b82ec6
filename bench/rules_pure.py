"""Benchmark: how many trials per second `portal.rules.evaluate` handles in one process.

    python bench/rules_pure.py [--n 200000] [--seed 1] [--profile]

Generates N varied synthetic fact sets (seeded, so runs are comparable), validates them with
Facts.from_dict (timed separately), then times evaluate() over all of them. Not run by pytest.
Prints wall-clock and CPU-time rates: on a shared machine the CPU-time rate is the stable one.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal.rules import Facts, evaluate  # noqa: E402

AS_OF = date(2026, 11, 20)
REGISTRIES = ["ISRCTN", "ClinicalTrials.gov", "CTIS", "EUCTR", "DRKS"]
COUNTRY_SETS = [
    ["United Kingdom"],
    ["United Kingdom", "Germany"],
    ["United Kingdom", "United States"],
    ["United Kingdom", "France", "Spain", "United States"],
    ["United States"],
    ["Germany", "Netherlands"],
    ["Australia"],
]


def _day(rng: random.Random, start: date, span_days: int) -> date:
    return start + timedelta(days=rng.randrange(span_days))


def _text(rng: random.Random, d: date) -> str:
    # One date in ten arrives month-only, as registries often give it.
    return f"{d.year:04d}-{d.month:02d}" if rng.random() < 0.1 else d.isoformat()


def make_facts(rng: random.Random) -> dict:
    """One synthetic trial, mixing old and new rules, UK/EU/US sites and every kind of fact."""
    applied = _day(rng, date(2024, 6, 1), 900)
    approved = applied + timedelta(days=rng.randrange(20, 120))
    fp = approved + timedelta(days=rng.randrange(-10, 400))
    end = fp + timedelta(days=rng.randrange(60, 1200))
    d: dict = {"study_type": "interventional" if rng.random() < 0.95 else "observational"}
    if rng.random() < 0.9:
        d["application_submitted_on"] = _text(rng, applied)
    if rng.random() < 0.95:
        d["approved_on"] = _text(rng, approved)
    if rng.random() < 0.8:
        d["first_participant_on"] = _text(rng, fp)
    if rng.random() < 0.85:
        d["end_of_trial_on"] = _text(rng, end)
        d["early_termination"] = rng.random() < 0.1
    if rng.random() < 0.5:
        d["primary_completion_on"] = _text(rng, end - timedelta(days=rng.randrange(0, 90)))
    d["phase"] = rng.choice(["1", "1/2", "2", "2/3", "3", "4", "n/a"])
    d["healthy_volunteers"] = d["phase"] == "1" and rng.random() < 0.6
    d["paediatric"] = rng.random() < 0.15
    d["countries"] = rng.choice(COUNTRY_SETS)
    d["fda_regulated_drug"] = rng.random() < 0.5
    d["us_site"] = "United States" in d["countries"]
    regs = []
    for registry in rng.sample(REGISTRIES, rng.randrange(0, 3)):
        reg = {"registry": registry, "id": f"{registry[:4]}{rng.randrange(10**6)}"}
        if rng.random() < 0.9:
            reg["registered_on"] = (fp + timedelta(days=rng.randrange(-60, 60))).isoformat()
        if rng.random() < 0.4:
            reg["results_posted_on"] = (end + timedelta(days=rng.randrange(100, 500))).isoformat()
        regs.append(reg)
    d["registrations"] = regs
    if rng.random() < 0.3:
        d["end_of_trial_notified_on"] = (end + timedelta(days=rng.randrange(0, 120))).isoformat()
    if rng.random() < 0.2:
        d["participant_summary_offered_on"] = (
            end + timedelta(days=rng.randrange(100, 500))
        ).isoformat()
    if rng.random() < 0.05:
        d["deferrals"] = [
            {
                "duty": "UK-RES",
                "requested_on": (end + timedelta(days=rng.randrange(0, 500))).isoformat(),
                "reference": "DEF-1",
            }
        ]
    if rng.random() < 0.02:
        d["waivers"] = [{"duty": "UK-REG", "reference": "W-1"}]
    if rng.random() < 0.1:
        d["delay_certification_on"] = (end + timedelta(days=rng.randrange(0, 400))).isoformat()
    if rng.random() < 0.3:
        d["results_submitted_on"] = (end + timedelta(days=rng.randrange(100, 500))).isoformat()
    if rng.random() < 0.2:
        d["eu_events"] = [
            {"event": "first_visit", "on": fp.isoformat(), "member_state": "Germany",
             "notified_on": (fp + timedelta(days=rng.randrange(0, 30))).isoformat()},
        ]  # fmt: skip
    return d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="number of trials")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=20_000, help="trials generated at a time")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of evaluate()")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    statuses: Counter[str] = Counter()
    parse_wall = eval_wall = eval_cpu = 0.0
    prof = cProfile.Profile() if args.profile else None
    done = 0
    while done < args.n:  # in chunks, so that 200,000 trials do not all sit in memory at once
        dicts = [make_facts(rng) for _ in range(min(args.chunk, args.n - done))]
        t0 = time.perf_counter()
        facts = [Facts.from_dict(d) for d in dicts]
        parse_wall += time.perf_counter() - t0
        if prof is not None:
            prof.enable()
        w0, c0 = time.perf_counter(), time.process_time()
        for f in facts:
            evaluate(f, AS_OF)
        eval_wall += time.perf_counter() - w0
        eval_cpu += time.process_time() - c0
        if prof is not None:
            prof.disable()
        for f in facts[:2000]:  # a sample of the verdicts, untimed
            statuses.update(o.status for o in evaluate(f, AS_OF))
        done += len(dicts)

    n = args.n
    print(f"trials: {n:,}, as of {AS_OF}")
    print(f"evaluate():           {n / eval_wall:>9,.0f} trials/s wall ({eval_wall:.2f} s)")
    print(f"evaluate():           {n / eval_cpu:>9,.0f} trials/s CPU  ({eval_cpu:.2f} s)")
    print(f"from_dict():          {n / parse_wall:>9,.0f} trials/s wall ({parse_wall:.2f} s)")
    print(f"from_dict + evaluate: {n / (parse_wall + eval_wall):>9,.0f} trials/s wall")
    print("statuses (sample):", dict(sorted(statuses.items())))
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
