"""What the test clinics (attention_data.py, web/clinic_data.py) are built from: times in
the clinic's zone, records as a wearable makes them, wearable states, the store files, and
a store that reports the wearable states a test chooses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.daily import DailyTotal
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore

# New York: its clocks change, so the clinic's days are not the UTC days.
TZ = ZoneInfo("America/New_York")

# A day's sets: (full reps, partial reps, mean ROM in centidegrees) each.
Sets = Sequence[tuple[int, int, int]]


def at(day: date, hour: int, minute: int = 0) -> int:
    """Milliseconds since the epoch of a local time in TZ."""
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp()
               * 1000)


class Recorder:
    """Records as a wearable makes them: each set's reps, then its summary."""

    def __init__(self, device: str, set_duration_s: int | None = None) -> None:
        """`set_duration_s`: every set's duration_s; default 3 s per rep."""
        self.device = device
        self.set_duration_s = set_duration_s
        self.seq = 0
        self.records: list[StoredRecord] = []

    def sets(self, exercise: str, day: date, sets: Sets, hour: int = 9,
             minute: int = 0) -> None:
        """The sets one after another from `hour`:`minute` of `day`."""
        t = at(day, hour, minute)
        for set_no, (full, partial, rom) in enumerate(sets, start=1):
            for i in range(full + partial):
                t += 3000
                self._add("rep", exercise, set_no, t, i >= full,
                          {"rep": i + 1, "duration_ms": 2500, "rom_cdeg": rom,
                           "peak_dps": 90})
            t += 1000
            duration_s = (3 * (full + partial) if self.set_duration_s is None
                          else self.set_duration_s)
            self._add("set", exercise, set_no, t, False,
                      {"reps": full, "partial_reps": partial, "mean_rom_cdeg": rom,
                       "duration_s": duration_s, "tempo_cv_pct": 5, "rests": 0})
            t += 60_000

    def _add(self, kind: str, exercise: str, set_no: int, t_ms: int, partial: bool,
             values: dict[str, int]) -> None:
        self.seq += 1
        self.records.append(StoredRecord(self.device, self.seq, kind, exercise, set_no, t_ms,
                                         True, partial, values))


def write_store(path: Path, *recorders: Recorder) -> None:
    """A SQLite store at `path` holding the recorders' records."""
    store = SQLiteStore(path, zone=TZ)
    try:
        store.write([r for recorder in recorders for r in recorder.records])
    finally:
        store.close()


def state(device: str, last_sync_ms: int | None, **fields: object) -> DeviceState:
    """A wearable's state that raises no concern (battery 80%, storage 5% full, no failed
    attempts), synced at `last_sync_ms` (None: never) through gateway home-<last digit>;
    `fields` change any of it."""
    values: dict[str, object] = {
        "device_id": device, "gateway_id": "home-" + device[-1],
        "reported_ms": last_sync_ms or 0, "last_sync_ms": last_sync_ms,
        "last_attempt_ms": last_sync_ms, "battery_pct": 80, "log_used_pct": 5, "refused": 0,
        "consecutive_failures": 0, "firmware": "1.2.0"}
    values.update(fields)
    return DeviceState(**values)  # type: ignore[arg-type]


class StatesStore(SQLiteStore):
    """SQLite with the device states given (the store keeps none until the device-state
    work lands), counting the reads the clinic's tools make."""

    def __init__(self, path: str | Path, *, zone: ZoneInfo,
                 states: dict[str, DeviceState] | None = None) -> None:
        super().__init__(path, zone=zone)
        self.states = dict(states or {})
        self.calls: Counter[str] = Counter()

    def device_states(self, device_ids: Sequence[str] | None, *,
                      recent_ms: int | None = None) -> dict[str, DeviceState]:
        self.calls["device_states"] += 1
        return {d: s for d, s in self.states.items() if device_ids is None or d in device_ids}

    def daily_totals(self, device_ids: Sequence[str] | None, first_day: date,
                     last_day: date) -> list[DailyTotal]:
        self.calls["daily_totals"] += 1
        return super().daily_totals(device_ids, first_day, last_day)

    def days_with_data(self, device_ids: Sequence[str] | None, first_day: date,
                       last_day: date) -> dict[str, set[date]]:
        self.calls["days_with_data"] += 1
        return super().days_with_data(device_ids, first_day, last_day)

    def last_days(self, device_ids: Sequence[str] | None, until: date) -> dict[str, date]:
        self.calls["last_days"] += 1
        return super().last_days(device_ids, until)

    def query(self, device_ids: Sequence[str] | None, start_ms: int,
              end_ms: int) -> list[StoredRecord]:
        self.calls["query"] += 1
        return super().query(device_ids, start_ms, end_ms)

    def undated(self, device_ids: Sequence[str] | None, start_ms: int,
                end_ms: int) -> list[StoredRecord]:
        self.calls["undated"] += 1
        return super().undated(device_ids, start_ms, end_ms)
