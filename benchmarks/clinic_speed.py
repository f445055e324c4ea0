"""The clinic's speed with a year of data (issue point 7): the worklist and a patient page
over `--patients` (1,000) patients x `--days` (365) days, in SQLite and in InfluxDB 1.x.

Targets: the worklist in under 1 s, a patient page in under 200 ms.

Workload (`make`, clinic zone New York, today Fri 2026-03-20, both DST changes inside the
year): each patient has one wearable and the program squat 3 x 10 (ROM 60-90), heel raise
2 x 15 and glute bridge 3 x 12, five days a week; a fifth of them got a progression (squat
3 x 12) half-way. Records as the bridge stores them (codec fields, seq per wearable): every
rep (its ROM around the patient's own, 5 % partial) and each set's summary (its full
reps, partial reps and mean ROM over the full reps), in a morning session; each patient
exercises Monday to Saturday with a probability of their own (50-95 %); one in ten drifts
over the last three weeks (half the days, ROM down 15 %, a quarter of reps partial); one in
twenty stops at some day of the year (half of their gateways stop reporting too); one
session in 300 arrives undated (power loss). Each wearable's state is reported every night
(battery, log, last sync). 104 records a session, about 23 M in all: written to both
stores with their `write`, one day of every patient per call, plus the prescriptions
(clinic.db) and the registry. The InfluxDB 1.x is a real server (tests/services.py) in the
directory; its daily totals are computed by its first refresh_daily() before anything is
timed. Making it all takes about 20 minutes (progress is printed); `--dir` keeps it for
the next run.

Timed, for each store, `--runs` (5) times after one warm-up, medians printed:
* the worklist as `rtm-clinic worklist` makes it (registry, prescriptions, open_store,
  worklist.build, close; not the printing), with the time of each store call;
* the patient page of six patients (steady, drifting, silent: sample_patients) through
  the dashboard's WSGI app (a logged-in GET /patients/ID: the store's reads, clinic.db,
  the charts and the template), with `rtm-clinic patient`'s report and the dashboard's
  /worklist page (every patient's row) for comparison.

Last line: `worklist_s=… patient_page_ms=…`, each the worse of the two stores' medians.

    python benchmarks/clinic_speed.py [--patients 1000] [--days 365] [--runs 5] [--dir DIR]
    python benchmarks/clinic_speed.py --patients 50 --days 60      # a quick check
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud_bridge.clinic import patient_report, worklist  # noqa: E402
from cloud_bridge.clinic import registry as registry_mod  # noqa: E402
from cloud_bridge.clinic.clinic_db import open_clinic_db  # noqa: E402
from cloud_bridge.clinic.prescriptions import Item, Prescriptions  # noqa: E402
from cloud_bridge.clinic.web import users  # noqa: E402
from cloud_bridge.clinic.web.app import DashboardApp, WebConfig  # noqa: E402
from cloud_bridge.daily import day_start_ms  # noqa: E402
from cloud_bridge.device_state import DeviceState  # noqa: E402
from cloud_bridge.records import StoredRecord  # noqa: E402
from cloud_bridge.stores.base import Store, StoreUnavailable, open_store  # noqa: E402
from cloud_bridge.stores.influx_v1 import InfluxV1Store  # noqa: E402
from cloud_bridge.stores.sqlite_store import SQLiteStore  # noqa: E402
from tests.cloud_bridge.clinic.web.wsgi_client import Client  # noqa: E402
from tests.services import InfluxDB1  # noqa: E402

TZ = ZoneInfo("America/New_York")
TODAY = date(2026, 3, 20)
NOW = datetime(2026, 3, 20, 16, 0, tzinfo=UTC)  # noon in New York
DATABASE = "rtm"
USER, PASSWORD = "bench", "a long enough benchmark password"
SEED = 7
WORKLIST_TARGET_S = 1.0
PAGE_TARGET_MS = 200.0

SQUAT, HEEL, BRIDGE = "squat", "heel_raise", "glute_bridge"
PROGRAM = [Item(SQUAT, 3, 10, 5, 60, 90), Item(HEEL, 2, 15, 5), Item(BRIDGE, 3, 12, 5)]
PROGRESSION = [Item(SQUAT, 3, 12, 5, 60, 90), Item(HEEL, 2, 15, 5), Item(BRIDGE, 3, 12, 5)]
ROM_CDEG = {SQUAT: 7000, HEEL: 600, BRIDGE: 2500}  # typical ranges, centidegrees


# -- the synthetic clinic ------------------------------------------------------------------

@dataclass
class Patient:
    patient_id: str
    device: str
    start: date
    share: float  # of days exercised
    rom: dict[str, int]  # the patient's own ROM per exercise, cdeg
    drift_from: date | None  # fewer days, smaller ROM, more partial reps from then
    stops: date | None  # no data from then on
    gateway_gone: bool  # after `stops`, no device state reports either
    progression: date | None  # squat 3 x 12 from then
    seq: int = 0
    last_sync_ms: int | None = None
    battery: int = 90

    def program(self, day: date) -> list[Item]:
        return PROGRESSION if self.progression and day >= self.progression else PROGRAM


def patients_of(n: int, first: date, rnd: random.Random) -> list[Patient]:
    out = []
    for i in range(1, n + 1):
        start = first - timedelta(days=rnd.randrange(0, 20))
        drift = TODAY - timedelta(days=rnd.randrange(14, 22)) if rnd.random() < 0.1 else None
        stops = (first + timedelta(days=rnd.randrange(0, (TODAY - first).days))
                 if rnd.random() < 0.05 else None)
        progression = first + (TODAY - first) / 2 if rnd.random() < 0.2 else None
        out.append(Patient(f"P-{i:05d}", f"{i:012x}", start, rnd.uniform(0.5, 0.95),
                           {x: int(r * rnd.uniform(0.8, 1.2)) for x, r in ROM_CDEG.items()},
                           drift, stops, rnd.random() < 0.5, progression))
    return out


def session(p: Patient, day: date, rnd: random.Random) -> list[StoredRecord]:
    """The records of one morning's session, as the bridge stores them."""
    drifting = p.drift_from is not None and day >= p.drift_from
    at = datetime(day.year, day.month, day.day, 7 + rnd.randrange(0, 4), rnd.randrange(60),
                  tzinfo=TZ)
    t = int(at.timestamp() * 1000)
    undated = rnd.random() < 1 / 300
    sync_t = day_start_ms(day + timedelta(days=1), TZ) + 3 * 3_600_000
    out = []
    for item in p.program(day):
        mean_rom = p.rom[item.exercise] * (0.85 if drifting else 1.0)
        for set_no in range(1, item.sets + 1):
            full, roms = 0, 0
            for r in range(1, item.reps + 1):
                partial = rnd.random() < (0.25 if drifting else 0.05)
                rom = max(0, int(rnd.gauss(mean_rom, mean_rom * 0.06)))
                if partial:
                    rom //= 2
                else:
                    full, roms = full + 1, roms + rom
                p.seq += 1
                t += 2500 + rnd.randrange(1000)
                out.append(StoredRecord.fast(
                    p.device, p.seq, "rep", item.exercise, set_no,
                    sync_t + p.seq % 1000 if undated else t, not undated, partial,
                    {"rep": r, "duration_ms": 2400 + rnd.randrange(600), "rom_cdeg": rom,
                     "peak_dps": 80 + rnd.randrange(40)}))
            p.seq += 1
            t += 1000
            out.append(StoredRecord.fast(
                p.device, p.seq, "set", item.exercise, set_no,
                sync_t + p.seq % 1000 if undated else t, not undated, False,
                {"reps": full, "partial_reps": item.reps - full,
                 "mean_rom_cdeg": roms // full if full else 0,
                 "duration_s": item.reps * 3, "tempo_cv_pct": rnd.randrange(3, 15),
                 "rests": 0}))
            t += item.rest_s * 1000
    return out


def night_state(p: Patient, day: date, rnd: random.Random) -> DeviceState | None:
    """The state the gateway reports at 03:00 after `day`: once the patient stopped, failed
    syncs (the wearable is gone), or nothing (the gateway too)."""
    at = day_start_ms(day + timedelta(days=1), TZ) + 3 * 3_600_000
    synced = p.stops is None or day < p.stops
    if not synced and p.gateway_gone:
        return None
    if synced:
        p.last_sync_ms = at
        p.battery = 100 if p.battery < 25 else p.battery - rnd.randrange(5, 12)
    return DeviceState(p.device, f"home-{p.device}", at, p.last_sync_ms, at, p.battery,
                       rnd.randrange(1, 10), 0, 0 if synced else 3, "1.2.0")


def make(root: Path, influx: InfluxV1Store, n_patients: int, n_days: int) -> None:
    rnd = random.Random(SEED)
    first = TODAY - timedelta(days=n_days)
    patients = patients_of(n_patients, first, rnd)
    registry_mod.Registry([registry_mod.Enrollment(p.patient_id, p.device, p.start)
                           for p in patients]).save(root / "registry.csv")
    conn = users.open_users(root / "clinic.db")
    try:
        book = Prescriptions(conn)
        for p in patients:
            book.add(p.patient_id, p.start, PROGRAM, 0)
            if p.progression:
                book.add(p.patient_id, p.progression, PROGRESSION, 0)
        users.add_user(conn, USER, PASSWORD, 0)
    finally:
        conn.close()
    sqlite = SQLiteStore(root / "rtm.db", zone=TZ)
    started, written = time.perf_counter(), 0
    spent = {"sqlite": 0.0, "influxdb": 0.0}
    for k in range(n_days):
        day = first + timedelta(days=k)
        records: list[StoredRecord] = []
        for p in patients:
            if (p.stops is None or day < p.stops) and day.weekday() < 6 and rnd.random() < (
                    p.share * (0.5 if p.drift_from and day >= p.drift_from else 1.0)):
                records += session(p, day, rnd)
        states = [s for p in patients if (s := night_state(p, day, rnd)) is not None]
        for name, store in (("sqlite", sqlite), ("influxdb", influx)):
            t0 = time.perf_counter()
            _retrying(store.write, records)
            _retrying(store.write_device_states, states)
            spent[name] += time.perf_counter() - t0
        written += len(records)
        if (k + 1) % 10 == 0 or k + 1 == n_days:
            elapsed = time.perf_counter() - started
            print(f"  day {k + 1}/{n_days}: {written / 1e6:.1f} M records, {elapsed:.0f} s "
                  f"(writes: SQLite {spent['sqlite']:.0f} s, InfluxDB {spent['influxdb']:.0f}"
                  f" s)", flush=True)
    sqlite.close()
    t0 = time.perf_counter()
    rows = influx.refresh_daily()
    print(f"  InfluxDB daily totals: {rows} rows in {time.perf_counter() - t0:.0f} s",
          flush=True)


def _retrying(write: Callable[[Any], None], batch: Any) -> None:
    """InfluxDB 1.x answers 500 when its cache is full under a bulk load: wait, retry
    (writes are idempotent)."""
    for attempt in range(30):
        try:
            write(batch)
            return
        except StoreUnavailable:
            if attempt == 29:
                raise
            time.sleep(2.0)


# -- timing ----------------------------------------------------------------------------------

class Timed:
    """Wraps a store's reads to time and count them."""

    NAMES = ("daily_totals", "days_with_data", "last_days", "device_states", "undated",
             "query")

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def wrap(self, store: Store) -> Store:
        for name in self.NAMES:
            original = getattr(store, name)

            def timed(*args: object, _original: Any = original, _name: str = name,
                      **kwargs: object) -> object:
                t0 = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.seconds[_name].append(time.perf_counter() - t0)

            setattr(store, name, timed)
        return store

    def per_run(self, runs: int) -> str:
        return ", ".join(f"{name} {len(times) / runs:g}x {sum(times) / runs * 1000:.0f} ms"
                         for name, times in sorted(self.seconds.items()))


@dataclass
class Figures:
    worklist_s: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    report_ms: list[float] = field(default_factory=list)


def time_worklist(url: str, root: Path, runs: int) -> tuple[list[float], Timed, int]:
    """`rtm-clinic worklist`'s work (commands.attention.run_worklist without the printing)."""
    timed, seconds, attention = Timed(), [], 0
    for run in range(runs + 1):
        if run == 1:
            timed.seconds.clear()  # the warm-up's calls do not count
        t0 = time.perf_counter()
        registry = registry_mod.load(root / "registry.csv")
        conn = open_clinic_db(root / "clinic.db")
        try:
            histories = Prescriptions(conn).histories()
        finally:
            conn.close()
        store = timed.wrap(open_store(url, zone=TZ))
        try:
            w = worklist.build(store, registry, histories, TODAY)
        finally:
            store.close()
        if run:
            seconds.append(time.perf_counter() - t0)
        attention = len(w.needing_attention)
    return seconds, timed, attention


def time_pages(url: str, root: Path, patients: list[str], runs: int
               ) -> tuple[list[float], list[float], list[float], str]:
    """Logged-in GETs of /patients/ID through the WSGI app, patient_report.build, and the
    dashboard's /worklist page."""
    timed = Timed()
    store = timed.wrap(open_store(url, zone=TZ))
    try:
        app = DashboardApp(WebConfig(store, root / "registry.csv", root / "clinic.db", TZ,
                                     clock=lambda: NOW, failed_login_delay_s=0.0))
        client = Client(app)
        if client.login(USER, PASSWORD).status != 303:
            raise SystemExit("benchmark user could not log in")
        page_ms, report_ms, worklist_ms = [], [], []
        for run in range(runs + 1):
            if run == 1:
                timed.seconds.clear()
            for patient in patients:
                t0 = time.perf_counter()
                r = client.get(f"/patients/{patient}")
                ms = (time.perf_counter() - t0) * 1000
                if r.status != 200:
                    raise SystemExit(f"/patients/{patient}: HTTP {r.status}")
                t0 = time.perf_counter()
                registry = registry_mod.load(root / "registry.csv")
                conn = open_clinic_db(root / "clinic.db")
                try:
                    history = Prescriptions(conn).history(patient)
                finally:
                    conn.close()
                patient_report.format_text(patient_report.build(store, registry, patient,
                                                                history, TODAY))
                if run:
                    page_ms.append(ms)
                    report_ms.append((time.perf_counter() - t0) * 1000)
        calls = timed.per_run(runs * len(patients))
        for _ in range(runs):
            t0 = time.perf_counter()
            if client.get("/worklist").status != 200:
                raise SystemExit("/worklist failed")
            worklist_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        store.close()
    return page_ms, report_ms, worklist_ms, calls


def sample_patients(n_patients: int, n_days: int) -> list[str]:
    """Six patients whose pages are timed: two steady ones, two drifting, one silent for
    the longest with its gateway gone too, and one silent whose gateway still reports (the
    generator's patients again, from its seed)."""
    patients = patients_of(n_patients, TODAY - timedelta(days=n_days), random.Random(SEED))
    kinds: list[Callable[[Patient], bool]] = [
        lambda p: p.drift_from is None and p.stops is None,
        lambda p: p.drift_from is not None and p.stops is None,
    ]
    out: list[str] = []
    for kind in kinds:
        out += [p.patient_id for p in patients if kind(p)][:2]
    silent = sorted((p for p in patients if p.stops is not None), key=lambda p: p.stops or TODAY)
    out += [p.patient_id for p in silent if p.gateway_gone][:1]
    out += [p.patient_id for p in silent if not p.gateway_gone][:1]
    return out


@contextmanager
def influxdb(root: Path) -> Iterator[InfluxDB1]:
    server = InfluxDB1(root / "influxdb")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_idle(pid: int, timeout_s: float = 300.0) -> float:
    """Wait until process `pid` stops using CPU (influxd goes on loading its shards' index
    after it answers /ping: 10 s of CPU for this clinic, which would be timed with
    everything else); the seconds waited."""
    clock = os.sysconf("SC_CLK_TCK")

    def cpu_s() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / clock  # utime, stime

    started = time.monotonic()
    before = cpu_s()
    while time.monotonic() - started < timeout_s:
        time.sleep(2.0)
        now = cpu_s()
        if now - before < 0.1:  # under 5 % of a core
            break
        before = now
    return time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, help="keep the stores here (made if missing)")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="rtm-clinic-speed-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        with influxdb(root) as server:
            if not (root / "complete").exists():
                t0 = time.perf_counter()
                print(f"making {args.patients} patients x {args.days} days in {root}",
                      flush=True)
                make(root, InfluxV1Store(server.url, DATABASE, zone=TZ, daily_refresh_s=None,
                                         batch_lines=50_000), args.patients, args.days)
                (root / "complete").write_text(f"{args.patients} {args.days}\n")
                print(f"made in {time.perf_counter() - t0:.0f} s", flush=True)
            else:
                print(f"using the clinic in {root} ({(root / 'complete').read_text().strip()}"
                      " patients, days)")
            assert server.pid is not None
            print(f"InfluxDB idle after {wait_idle(server.pid):.0f} s", flush=True)
            host = server.url.removeprefix("http://")
            urls = {"SQLite": f"sqlite:///{root / 'rtm.db'}",
                    "InfluxDB 1.x": f"influxdb1://{host}/{DATABASE}"}
            n_patients, n_days = map(int, (root / "complete").read_text().split())
            patients = sample_patients(n_patients, n_days)
            everyone = registry_mod.load(root / "registry.csv").patients()
            print(f"patient pages of {', '.join(patients)}")
            worst_worklist = worst_page = 0.0
            for name, url in urls.items():
                seconds, timed, attention = time_worklist(url, root, args.runs)
                wl = statistics.median(seconds)
                print(f"\n{name}: worklist {wl:.3f} s median of {args.runs} (min "
                      f"{min(seconds):.3f}, max {max(seconds):.3f}; target "
                      f"{WORKLIST_TARGET_S:.0f} s: {'met' if wl < WORKLIST_TARGET_S else 'MISSED'})"
                      f"; {attention} patients need attention")
                print(f"  store calls per build: {timed.per_run(args.runs)}")
                page_ms, report_ms, worklist_ms, calls = time_pages(url, root, patients,
                                                                    args.runs)
                page = statistics.median(page_ms)
                print(f"{name}: patient page {page:.0f} ms median of {len(page_ms)} "
                      f"({len(patients)} patients x {args.runs}; max {max(page_ms):.0f} ms; "
                      f"target {PAGE_TARGET_MS:.0f} ms: "
                      f"{'met' if page < PAGE_TARGET_MS else 'MISSED'}); rtm-clinic patient "
                      f"{statistics.median(report_ms):.0f} ms")
                print(f"  store calls per page and report: {calls}")
                print(f"{name}: the dashboard's /worklist page (all {len(everyone)} rows) "
                      f"{statistics.median(worklist_ms):.0f} ms")
                worst_worklist = max(worst_worklist, wl)
                worst_page = max(worst_page, page)
        print(f"worklist_s={worst_worklist:.2f} patient_page_ms={worst_page:.0f}")
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
