"""The clinic's worklist for many patients: how long `worklist.build` takes and what it reads.

Workload: `--patients` (1,000) enrolled patients in a SQLite store (clinic zone New York),
each with squat 3 x 10, heel raise 2 x 15 and glute bridge 3 x 12 prescribed, exercising on
70 % of `--days` (30) days at random: 105 records a day (96 reps, 9 set summaries), about
2 M records in all by default, plus the prescriptions in clinic.db. The store is made once
and kept in `--dir` (default a temporary directory, removed at the end).

Printed: the time of each store call the worklist makes (counted: one daily_totals, one
set_summaries, one device_states, nothing else), the whole build and the text, the number
of patients needing attention, and for comparison what reading ROM from every record of the
trend windows (Store.query) would cost instead of the set summaries.
Last line: `worklist_s=…`.

    python benchmarks/clinic_worklist.py [--patients 1000] [--days 30]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud_bridge.clinic import registry as registry_mod  # noqa: E402
from cloud_bridge.clinic import worklist  # noqa: E402
from cloud_bridge.clinic.clinic_db import open_clinic_db  # noqa: E402
from cloud_bridge.clinic.prescriptions import Item, Prescriptions  # noqa: E402
from cloud_bridge.daily import day_start_ms  # noqa: E402
from cloud_bridge.records import StoredRecord  # noqa: E402
from cloud_bridge.stores.sqlite_store import SQLiteStore  # noqa: E402

TZ = ZoneInfo("America/New_York")
TODAY = date(2026, 3, 20)
PROGRAM = [Item("squat", 3, 10, 5, 60, 90), Item("heel_raise", 2, 15, 3),
           Item("glute_bridge", 3, 12, 5)]


def make(root: Path, patients: int, days: int) -> None:
    rnd = random.Random(1)
    devices = [f"{i:012x}" for i in range(1, patients + 1)]
    ids = [f"P-{i:05d}" for i in range(1, patients + 1)]
    starts = [TODAY - timedelta(days=days + rnd.randrange(0, 60)) for _ in ids]
    registry_mod.Registry([registry_mod.Enrollment(p, d, s)
                           for p, d, s in zip(ids, devices, starts, strict=True)]
                          ).save(root / "registry.csv")
    book = Prescriptions(open_clinic_db(root / "clinic.db"))
    for p, s in zip(ids, starts, strict=True):
        book.add(p, s, PROGRAM, 0)
    store = SQLiteStore(root / "rtm.db", zone=TZ)
    seqs: Counter[str] = Counter()
    for k in range(days, -1, -1):
        day = TODAY - timedelta(days=k)
        records = []
        for d in devices:
            if rnd.random() > 0.7:
                continue
            t = int(datetime(day.year, day.month, day.day, 9, tzinfo=TZ).timestamp() * 1000)
            for item in PROGRAM:
                for set_no in range(1, item.sets + 1):
                    for r in range(item.reps):
                        seqs[d] += 1
                        t += 3000
                        records.append(StoredRecord.fast(
                            d, seqs[d], "rep", item.exercise, set_no, t, True,
                            r == item.reps - 1 and rnd.random() < 0.2,
                            {"rep": r + 1, "duration_ms": 2500,
                             "rom_cdeg": rnd.randrange(4000, 8000), "peak_dps": 90}))
                    seqs[d] += 1
                    t += 1000
                    records.append(StoredRecord.fast(
                        d, seqs[d], "set", item.exercise, set_no, t, True, False,
                        {"reps": item.reps, "partial_reps": 0, "mean_rom_cdeg": 6000,
                         "duration_s": 30, "tempo_cv_pct": 5, "rests": 0}))
        store.write(records)
    store.close()


class Timed:
    """Wraps a store's methods to time and count the calls."""

    def __init__(self, store: SQLiteStore) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        for name in ("daily_totals", "set_summaries", "device_states", "query", "undated"):
            self._wrap(store, name)

    def _wrap(self, store: SQLiteStore, name: str) -> None:
        original = getattr(store, name)

        def timed(*args: object) -> object:
            started = time.perf_counter()
            try:
                return original(*args)
            finally:
                self.seconds[name].append(time.perf_counter() - started)

        setattr(store, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--dir", type=Path, help="keep the store here (made if missing)")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="rtm-worklist-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "rtm.db").exists():
            started = time.perf_counter()
            make(root, args.patients, args.days)
            print(f"made {args.patients} patients x {args.days} days in "
                  f"{time.perf_counter() - started:.0f} s")
        store = SQLiteStore(root / "rtm.db", zone=TZ)
        registry = registry_mod.load(root / "registry.csv")
        started = time.perf_counter()
        histories = Prescriptions(open_clinic_db(root / "clinic.db")).histories()
        histories_s = time.perf_counter() - started
        timed = Timed(store)
        started = time.perf_counter()
        w = worklist.build(store, registry, histories, TODAY)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        worklist.format_text(w)
        text_s = time.perf_counter() - started
        for name, times in sorted(timed.seconds.items()):
            print(f"store.{name}: {len(times)} call(s), {sum(times):.2f} s")
        print(f"prescription histories (clinic.db): {histories_s:.3f} s")
        print(f"worklist.build: {build_s:.2f} s; text {text_s:.3f} s; "
              f"{len(w.needing_attention)} of {len(w.assessments)} need attention")
        devices = sorted({d for p in registry.patients() for d in registry.devices_of(p)})
        lo = day_start_ms(TODAY - timedelta(days=14), TZ)
        started = time.perf_counter()
        n = len(SQLiteStore.query(store, devices, lo, day_start_ms(TODAY, TZ)))
        print(f"for comparison, Store.query of the trend windows: {n} records in "
              f"{time.perf_counter() - started:.2f} s")
        store.close()
        print(f"worklist_s={build_s + histories_s:.2f}")
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
