"""Daily totals in InfluxDB, shared by the 1.x and the 2.x/3.x store: a `daily` measurement
recomputed from the raw points of every (device, local day) that writes touched.

Points (line protocol, precision ns; docs/storage.md has the whole schema)::

    daily,device=<id>,exercise=<name>,zone=<IANA zone> reps=<i>,partial_reps=<i>,sets=<i>,
        rom_sum_cdeg=<i>,rom_reps=<i> <first instant of the local day, ns>
    daily_dirty,device=<id> first_ms=<i>,last_ms=<i> <when it was written, ns>
    daily_state zone="<IANA zone>",refreshed_to=<i ns>,version=<i> <when it was written, ns>

Why markers in the database, not a set in memory: `write` appends one `daily_dirty` point
per (device, local day) of the batch's dated records to the batch's last request, so a
marker is durable exactly when its records are, and becomes visible only after all of them
(it is in the last request). A refresh reads the markers written since its watermark,
recomputes those days and only then advances the watermark, persisted in `daily_state`: a
bridge that dies before refreshing leaves its markers behind, and the next refresh (any
process, any time later) finds them. The write path costs one extra line per device-day and
no extra request; nothing is ever deleted (3.x cannot DELETE through InfluxQL).

A refresh re-reads markers from `lag` before its watermark: a write stamps its markers just
before sending them, and a request in flight while the refresh read (at most its timeout)
appears later with an older stamp. Re-reading recomputes a few days twice; it never loses
one. With several bridge instances each one refreshes every marker, which also repairs a
race where one instance's older count overwrites another's newer one.

Recounting a day: explicit local-day ranges, not GROUP BY time(1d): InfluxQL's fixed
intervals cannot follow DST (a day is 23-25 hours), and tz() differs between versions. Two
statements per day (and chunk of up to 100 devices) count distinct seq server-side::

    SELECT count(distinct("seq")) AS "n" FROM "rep","set" WHERE "time_valid" = true
        AND time >= <day start> AND time < <next day start> [AND devices] GROUP BY device, exercise
    ... FROM "rep" WHERE "time_valid" = true AND "partial" = true ...  (the partial reps)

count(distinct(seq)) counts a record once however often it was written (one point), and
once per day even with two dated copies of it (differently dated by two syncs: the payload
dates them to the same ms unless the gateways' clocks disagree). A record whose two dated
copies fall on two different local days counts on both: Store.query keeps only the earlier.

InfluxQL cannot sum a product of two fields, so the ROM of a day (daily.set_rom: each set's
full reps and mean ROM x full reps) is folded here from the day's set points, read with a
third statement and taken once per seq like the counts (a tenth of the records: sets, not
reps)::

    SELECT "seq","reps","mean_rom_cdeg" FROM "set" WHERE "time_valid" = true AND ...

Versions: `daily_state.version` says what the `daily` points hold; 2 since they carry the
ROM fields. A state without it (1: written before) makes readers raise DailyNotReady, and the
next refresh recompute every day, like a database without daily totals; `rtm-bridge
rebuild-daily` does the same at once.

Counts are recomputed, never incremented (redeliveries rewrite the same points), and never
go down: raw points are not deleted by the system. Whoever deletes raw points (a patient's
data, a retention change) deletes the same devices/days from `daily` too.

Zone: `daily` is tagged with the zone its days are in; `daily_state` names the zone that is
maintained. A store opened for another zone refuses (DailyZoneMismatch) until rebuild()
recomputed every day in its zone. The first refresh of a database without `daily_state`
builds every day there is (that is how a database from before the daily totals is brought up
to date), then follows the markers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from operator import attrgetter, itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from cloud_bridge.daily import (
    DailyTotal,
    dated_spans,
    day_start_ms,
    days_between,
    local_day,
    set_rom,
)
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import (
    KIND_FIELDS,
    DailyNotReady,
    DailyZoneMismatch,
    StoreError,
)
from cloud_bridge.stores.influx_results import Series
from cloud_bridge.stores.influx_schema import (
    DEVICES_PER_QUERY,
    TAG_DEVICE,
    TAG_EXERCISE,
    device_matches,
    escape_key,
    quote_string,
)

MEASUREMENT_DAILY = "daily"
MEASUREMENT_DIRTY = "daily_dirty"
MEASUREMENT_STATE = "daily_state"
TAG_ZONE = "zone"
MARKER_PAGE = 10_000  # markers read per query: bounds memory after a long outage
# (day, up to DEVICES_PER_QUERY devices) recounted per request: bounds the rows one answer
# holds (x 13 exercises x 2 statements, and the day's set points) and the time between
# checks of a refresh's budget. The answer is read whole, and the bridge's resident memory
# keeps its high-water mark: at 10 a steady 5,000 records/s soak settled near 100 MB, at 2
# near 59 MB (measured in-process, a refresh every 3 s) for a few more round trips.
UNITS_PER_REQUEST = 2
# Days searched for data per statement when building. A week: each statement reads a
# week of raw points (0.4 s for 1,000 patients on a 2-core machine), and a chunked answer
# streams each statement's result as it ends, so no answer waits longer than the HTTP
# timeout however long the history (a year in one statement took over 10 s). Also keeps
# every statement under a server's max-select-buckets.
BUCKETS_PER_STATEMENT = 7
_NS_PER_MS = 1_000_000
_DAY_NS = 86_400 * 10**9
_MIN_NS = -(2**63) + 2  # InfluxQL's valid time range
_MAX_NS = 2**63 - 2
_ONE_DAY = timedelta(days=1)
_RAW = ",".join(f'"{kind}"' for kind in KIND_FIELDS)
# What the daily points hold: 1 counts only (no version field), 2 with the ROM fields.
DAILY_VERSION = 2
STATE_SELECT = (f'SELECT last("zone") AS "zone", last("refreshed_to") AS "refreshed_to", '
                f'last("version") AS "version" FROM "{MEASUREMENT_STATE}"')
_FIELDS = ("reps", "partial_reps", "sets", "rom_sum_cdeg", "rom_reps")
# last_days looks back this many days (until included) first, then this many, then all time
LAST_DAY_WINDOWS = (31, 366)

Run = Callable[[Sequence[str]], list[list[Series]]]
Write = Callable[[Sequence[str]], None]


log = logging.getLogger(__name__)


class _Unfinished(Exception):
    """A refresh ran out of its time; the markers keep what is left."""


@dataclass(frozen=True)
class DailyState:
    zone: str
    refreshed_to_ns: int
    version: int  # DAILY_VERSION of the points; 1 for a state from before versions


@dataclass(frozen=True)
class Marker:
    t_ns: int
    device_id: str
    first_ms: int
    last_ms: int


class InfluxDaily:
    """The daily totals of one database. `run` answers InfluxQL statements with epoch=ns
    (their series, in order); `read` the same, for the clinic's reads (totals, last days),
    which it may spread over several requests at once (default: `run`); `write` writes
    line protocol without creating the database."""

    def __init__(self, *, zone: ZoneInfo, run: Run, write: Write, lag_s: float,
                 clock_ns: Callable[[], int] = time.time_ns, read: Run | None = None) -> None:
        self.zone = zone
        self._run = run
        self._read = read or run
        self._write = write
        self._lag_ns = int(lag_s * 1e9)
        self._clock_ns = clock_ns
        self._lock = threading.Lock()  # one refresh or rebuild at a time
        self._stamp_lock = threading.Lock()
        self._last_stamp = 0
        self._watermark: int | None = None  # markers stamped before it (- lag) are done
        self.pending = False  # markers written since the last successful refresh began
        self._interrupted = threading.Event()
        self._deadline: float | None = None
        self._written = 0  # daily points written by the refresh under way

    # -- the write path -------------------------------------------------------------------

    def marker_lines(self, records: Sequence[StoredRecord]) -> list[str]:
        """The `daily_dirty` lines for a batch: one per (device, local day) of its dated
        records, with the first and last record time of that day."""
        spans = dated_spans(records, self.zone)
        if not spans:
            return []
        self.pending = True
        return [
            f"{MEASUREMENT_DIRTY},{TAG_DEVICE}={escape_key(device)} "
            f"first_ms={first}i,last_ms={last}i {self._stamp()}"
            for (device, _), (first, last) in sorted(spans.items())
        ]

    def _stamp(self) -> int:
        # Unique per process: two markers of one device never share a time (one point).
        with self._stamp_lock:
            self._last_stamp = max(self._clock_ns(), self._last_stamp + 1)
            return self._last_stamp

    # -- keeping them up to date ------------------------------------------------------------

    def refresh(self, budget_s: float | None = None) -> int:
        """Recount the days that markers since the watermark name; the daily points written.
        With `budget_s`, or once `interrupt()` was called, it stops between passes when the
        time is up: the watermark stays, so the next refresh recounts from there (a recount
        is idempotent) and nothing is missed."""
        with self._lock:
            self.pending = False
            self._deadline = None if budget_s is None else time.monotonic() + budget_s
            self._written = 0
            try:
                return self._refresh()
            except _Unfinished:
                self.pending = True
                log.info("daily totals: recount stopped after %d rows; the next refresh goes "
                         "on from the markers", self._written)
                return self._written
            except BaseException:
                self.pending = True  # still to do: close() tries once more
                raise

    def interrupt(self) -> None:
        """Make a refresh under way stop at its next pass (the store is closing)."""
        self._interrupted.set()

    def resume(self) -> None:
        self._interrupted.clear()

    def _check_time(self) -> None:
        if self._interrupted.is_set() or (
                self._deadline is not None and time.monotonic() > self._deadline):
            raise _Unfinished

    def _refresh(self) -> int:
        now = self._clock_ns()
        state = self._read_state()
        if state is None:
            written, found = self._build(None)
            if found:
                self._write_state(now)
            self._watermark = now
            return written
        if state.zone != self.zone.key:
            raise DailyZoneMismatch(state.zone, self.zone.key)
        if state.version < DAILY_VERSION:
            log.info("daily totals from version %d: recomputing every day for version %d",
                     state.version, DAILY_VERSION)
            written, _ = self._build(None)
            self._write_state(now)
            self._watermark = now
            return written
        if self._watermark is None:
            self._watermark = state.refreshed_to_ns
        low = self._watermark - self._lag_ns
        written = seen = 0
        while True:
            markers = self._read_markers(low, now)
            seen += len(markers)
            written += self._recount(self._dirty_days(markers))
            if len(markers) < MARKER_PAGE:
                break
            first, last = markers[0].t_ns, markers[-1].t_ns
            low = last if last > first else last + 1  # re-reading `last`'s markers is harmless
        self._watermark = now
        if seen:
            self._write_state(now)
        return written

    def rebuild(self, since: date | None) -> int:
        """Recount every day with records from `since` (None: all) and make the store's zone
        the maintained one; the daily points written."""
        with self._lock:
            state = self._read_state()
            if since is not None and (state is None or state.zone != self.zone.key):
                raise StoreError(
                    f"the daily totals are for {state.zone if state else 'no zone yet'}, not "
                    f"{self.zone.key}: a first build or a change of zone recomputes all days "
                    "(leave out --since)"
                )
            if since is not None and state is not None and state.version < DAILY_VERSION:
                raise StoreError(
                    "the daily totals were computed by an older version (without ROM): the "
                    "first rebuild recomputes all days (leave out --since)"
                )
            now = self._clock_ns()
            written, found = self._build(since)
            if found:
                self._write_state(now)
            self._watermark = now
            return written

    def _build(self, since: date | None) -> tuple[int, bool]:
        """Recount every local day holding dated records from `since` on; (points written,
        whether there were any records at all)."""
        low = day_start_ms(since, self.zone) * _NS_PER_MS if since is not None else _MIN_NS
        span = self._raw_span(low)
        if span is None:
            return 0, False
        low, high = span
        # Which days have data at all: UTC-day buckets are only a search index here (a local
        # day overlaps one or two of them); the counting itself uses exact local days. In
        # windows, so that no statement exceeds a server's max-select-buckets.
        windows = range(low, high + 1, BUCKETS_PER_STATEMENT * _DAY_NS)
        results = self._run([
            f'SELECT count("seq") FROM {_RAW} WHERE "time_valid" = true AND time >= {start} '
            f"AND time < {min(start + BUCKETS_PER_STATEMENT * _DAY_NS, high + 1)} "
            "GROUP BY time(1d) fill(none)"
            for start in windows
        ])
        days: set[date] = set()
        for series in (s for buckets in results for s in buckets):
            for row in series.rows():
                start = max(int(row["time"]), low)
                end = min(int(row["time"]) + _DAY_NS - 1, high)
                days.update(days_between(local_day(start // _NS_PER_MS, self.zone),
                                         local_day(end // _NS_PER_MS, self.zone)))
        if since is not None:
            days = {d for d in days if d >= since}
        return self._recount(dict.fromkeys(days)), True

    def _raw_span(self, low: int) -> tuple[int, int] | None:
        """(first, last) time of any raw point at or after `low`, ns; None if there is none."""
        where = f"WHERE time >= {low} AND time <= {_MAX_NS}"
        first, last = self._run([f'SELECT first("seq") FROM {_RAW} {where}',
                                 f'SELECT last("seq") FROM {_RAW} {where}'])
        firsts = [int(row["time"]) for s in first for row in s.rows()]
        lasts = [int(row["time"]) for s in last for row in s.rows()]
        if not firsts or not lasts:
            return None
        return min(firsts), max(lasts)

    def _read_markers(self, low: int, high: int) -> list[Marker]:
        [series] = self._run([
            f'SELECT "{TAG_DEVICE}", "first_ms", "last_ms" FROM "{MEASUREMENT_DIRTY}" '
            f"WHERE time >= {low} AND time < {high} LIMIT {MARKER_PAGE}"
        ])
        markers = []
        for s in series:
            for row in s.rows():
                device, first, last = row.get(TAG_DEVICE), row.get("first_ms"), row.get("last_ms")
                if device is None or first is None or last is None:
                    continue  # still being written: re-read after `lag`
                markers.append(Marker(int(row["time"]), str(device), int(first), int(last)))
        markers.sort(key=lambda m: m.t_ns)
        return markers

    def _dirty_days(self, markers: Sequence[Marker]) -> dict[date, set[str] | None]:
        days: dict[date, set[str] | None] = {}
        for m in markers:
            for day in days_between(local_day(m.first_ms, self.zone),
                                    local_day(m.last_ms, self.zone)):
                devices = days.setdefault(day, set())
                assert devices is not None
                devices.add(m.device_id)
        return days

    def _recount(self, days: Mapping[date, set[str] | None]) -> int:
        """Recount (day -> devices, None: every device) and write the daily points.

        Work goes in requests of at most UNITS_PER_REQUEST (day, up to DEVICES_PER_QUERY
        devices) units, so that a bridge's memory does not grow with the number of
        wearables dirty on one day (the nightly sync of a whole region): a day's devices
        are asked for in chunks, never all rows of the day at once. (A rebuild, which has
        no device list, asks for a day's every device in one statement.)"""
        units: list[tuple[date, list[str] | None]] = []
        for day, devices in sorted(days.items()):
            if devices is None:
                units.append((day, None))
                continue
            ordered = sorted(devices)
            units.extend((day, ordered[i:i + DEVICES_PER_QUERY])
                         for i in range(0, len(ordered), DEVICES_PER_QUERY))
        written = 0
        for i in range(0, len(units), UNITS_PER_REQUEST):
            self._check_time()
            statements: list[str] = []
            plan = units[i:i + UNITS_PER_REQUEST]
            for day, devices in plan:
                start = day_start_ms(day, self.zone) * _NS_PER_MS
                end = day_start_ms(day + _ONE_DAY, self.zone) * _NS_PER_MS
                [tail] = device_matches(devices)
                where = f'WHERE "time_valid" = true AND time >= {start} AND time < {end}{tail}'
                group = f' GROUP BY "{TAG_DEVICE}","{TAG_EXERCISE}"'
                statements.append(
                    f'SELECT count(distinct("seq")) AS "n" FROM {_RAW} {where}{group}')
                statements.append(f'SELECT count(distinct("seq")) AS "n" FROM "rep" '
                                  f'{where} AND "partial" = true{group}')
                statements.append(
                    f'SELECT "seq","reps","mean_rom_cdeg" FROM "set" {where}{group}')
            results = self._run(statements)
            lines: list[str] = []
            for k, (day, devices) in enumerate(plan):
                counts = _fold(*results[3 * k:3 * k + 3])
                wanted = None if devices is None else set(devices)
                for (device, exercise), values in sorted(counts.items()):
                    if wanted is None or device in wanted:
                        lines.append(self._daily_line(device, exercise, day, values))
            if lines:
                self._write(lines)
            written += len(lines)
            self._written += len(lines)
        return written

    def _daily_line(self, device: str, exercise: str, day: date,
                    values: tuple[int, int, int, int, int]) -> str:
        fields = ",".join(f"{name}={value}i" for name, value in zip(_FIELDS, values,
                                                                    strict=True))
        return (
            f"{MEASUREMENT_DAILY},{TAG_DEVICE}={escape_key(device)},"
            f"{TAG_EXERCISE}={escape_key(exercise)},"
            f"{TAG_ZONE}={escape_key(self.zone.key)} {fields} "
            f"{day_start_ms(day, self.zone) * _NS_PER_MS}"
        )

    def _read_state(self) -> DailyState | None:
        [series] = self._run([STATE_SELECT])
        return _state_of(series)

    def _write_state(self, refreshed_to_ns: int) -> None:
        zone = self.zone.key.replace("\\", "\\\\").replace('"', '\\"')
        self._write([f'{MEASUREMENT_STATE} zone="{zone}",refreshed_to={refreshed_to_ns}i,'
                     f"version={DAILY_VERSION}i {self._stamp()}"])

    # -- reading them -----------------------------------------------------------------------

    def totals(
        self, device_ids: Sequence[str] | None, first: date, last: date
    ) -> list[DailyTotal]:
        # Tags as columns, no GROUP BY: one series per statement, not one per device and
        # exercise, which InfluxDB 1.x answers in half the time (30 days of 1,000 patients:
        # 0.35 s against 0.8 s).
        results = self._read_daily((TAG_DEVICE, TAG_EXERCISE, *_FIELDS), device_ids,
                                   first, last)
        out = []
        days: dict[int, date] = {}  # a day found once, not once per device and exercise
        for series_list in results:
            for series in series_list:
                read = _reader(series, ("time", TAG_DEVICE, TAG_EXERCISE, *_FIELDS))
                for values in series.values:
                    t, device, exercise, reps, partial, sets, rom_sum, rom_reps = read(values)
                    if reps is None or partial is None or sets is None or not (
                            reps or partial or sets):
                        continue  # being overwritten right now, or nothing to show
                    day = days.get(t)
                    if day is None:
                        day = days[t] = local_day(int(t) // _NS_PER_MS, self.zone)
                    # A point caught being written (1.x shows a point field by field) may
                    # lack its ROM for a moment: no ROM rather than no day.
                    out.append(DailyTotal.fast(
                        str(device), day, str(exercise), int(reps), int(partial), int(sets),
                        int(rom_sum or 0), int(rom_reps or 0)))
        # (device, day, exercise) is a point's series and time, so unique: sorting by it
        # gives DailyTotal's order, without its comparisons in Python (50,000: 0.15 s).
        out.sort(key=_TOTAL_KEY)
        return out

    def days_with_data(self, device_ids: Sequence[str] | None, first: date, last: date
                       ) -> dict[str, set[date]]:
        """Per device, the days first..last with a `daily` point: one field read, not five
        (15 days of 1,000 patients: 0.13 s against 0.3 s). A point is written only with a
        count above 0, and `sets` is there as soon as the point is (0 or more)."""
        out: dict[str, set[date]] = {}
        days: dict[int, date] = {}
        for series_list in self._read_daily((TAG_DEVICE, "sets"), device_ids, first, last):
            for series in series_list:
                read = _reader(series, ("time", TAG_DEVICE, "sets"))
                for values in series.values:
                    t, device, sets = read(values)
                    if sets is None:
                        continue
                    day = days.get(t)
                    if day is None:
                        day = days[t] = local_day(int(t) // _NS_PER_MS, self.zone)
                    out.setdefault(str(device), set()).add(day)
        return out

    def _read_daily(self, columns: Sequence[str], device_ids: Sequence[str] | None,
                    first: date, last: date) -> list[list[Series]]:
        """`columns` of the `daily` points of days first..last in this zone, one statement
        per chunk of devices; [] when there is nothing to read (no devices, no days, an
        empty store)."""
        tails = device_matches(device_ids)
        if not tails or last < first:
            return []
        start = day_start_ms(first, self.zone) * _NS_PER_MS
        end = day_start_ms(last + _ONE_DAY, self.zone) * _NS_PER_MS
        selected = ",".join(f'"{name}"' for name in columns)
        results = self._read([STATE_SELECT] + [
            f'SELECT {selected} FROM "{MEASUREMENT_DAILY}" '
            f'WHERE "{TAG_ZONE}" = {quote_string(self.zone.key)} '
            f"AND time >= {start} AND time < {end}{tail}"
            for tail in tails
        ])
        return results[1:] if self._ready(results[0]) else []

    def last_days(self, device_ids: Sequence[str] | None, until: date) -> dict[str, date]:
        """Per device, its last day with a `daily` point up to `until`: the time of
        last("reps") per device. Looked for in the last LAST_DAY_WINDOWS first, then
        further back only for the devices not found yet: last() costs what its time range
        holds (a year of 1,000 wearables: 2.7 s; their last month: 0.3 s)."""
        wanted = None if device_ids is None else sorted(set(device_ids))
        if wanted is not None and not wanted:
            return {}
        end = day_start_ms(until + _ONE_DAY, self.zone) * _NS_PER_MS
        # A list of all devices is not known: all time at once for device_ids None.
        lows = [] if wanted is None else [
            day_start_ms(until - timedelta(days=n - 1), self.zone) * _NS_PER_MS
            for n in LAST_DAY_WINDOWS]
        out: dict[str, date] = {}
        high, state = end, [STATE_SELECT]
        for low in [*lows, _MIN_NS]:
            rest = None if wanted is None else [d for d in wanted if d not in out]
            if rest is not None and not rest:
                break
            results = self._read(state + [
                f'SELECT last("reps") FROM "{MEASUREMENT_DAILY}" '
                f'WHERE "{TAG_ZONE}" = {quote_string(self.zone.key)} '
                f'AND time >= {low} AND time < {high}{tail} GROUP BY "{TAG_DEVICE}"'
                for tail in device_matches(rest)
            ])
            if state:
                if not self._ready(results[0]):
                    return {}
                results, state = results[1:], []
            for series_list in results:
                for series in series_list:
                    for row in series.rows():
                        if row.get("last") is not None:
                            out[str(row[TAG_DEVICE])] = local_day(
                                int(row["time"]) // _NS_PER_MS, self.zone)
            high = low
        return out

    def _ready(self, state_series: Sequence[Series]) -> bool:
        """Whether the daily points can be read (False: an empty store, nothing to read);
        raises when they cannot."""
        state = _state_of(state_series)
        if state is None:
            if self._raw_span(_MIN_NS) is None:
                return False  # an empty store
            raise DailyNotReady(
                "the daily totals of this InfluxDB database were never computed: the bridge "
                "computes them at its first refresh (daily_refresh_s after its first write), "
                "or run `rtm-bridge rebuild-daily --store URL --clinic-tz ZONE`"
            )
        if state.zone != self.zone.key:
            raise DailyZoneMismatch(state.zone, self.zone.key)
        if state.version < DAILY_VERSION:
            raise DailyNotReady(
                "the daily totals of this InfluxDB database were computed by an older "
                "version, without ROM: the bridge recomputes them at its next refresh "
                "(daily_refresh_s after a write), or run `rtm-bridge rebuild-daily --store "
                "URL --clinic-tz ZONE`"
            )
        return True


_TOTAL_KEY = attrgetter("device_id", "day", "exercise")


def _reader(series: Series, names: Sequence[str]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function that gives a row's values of `names`, from its columns or, for a tag the
    series was grouped by, from the series' tags (None when neither has it)."""
    index = {c: i for i, c in enumerate(series.columns)}
    where = [index.get(name) for name in names]
    if None not in where and len(where) > 1:
        return itemgetter(*where)  # type: ignore[arg-type]  # the usual case, in C
    fixed = [series.tags.get(name) for name in names]

    def read(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(fixed[k] if i is None else values[i] for k, i in enumerate(where))

    return read


def _state_of(series: Sequence[Series]) -> DailyState | None:
    for s in series:
        for row in s.rows():
            zone, refreshed = row.get("zone"), row.get("refreshed_to")
            version = row.get("version")
            if (isinstance(zone, str) and isinstance(refreshed, int)
                    and isinstance(version, int | None)):
                return DailyState(zone, refreshed, 1 if version is None else version)
            raise StoreError(f"InfluxDB: unreadable {MEASUREMENT_STATE} point: {row}")
    return None


def _fold(all_series: Sequence[Series], partial_series: Sequence[Series],
          set_series: Sequence[Series]) -> dict[tuple[str, str], tuple[int, int, int, int, int]]:
    """(device, exercise) -> (full reps, partial reps, sets, ROM sum, ROM reps) from the two
    counts and the set points (each seq once: a set with two dated copies on the day)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for series, slot in [(s, {"rep": 0, "set": 2}.get(s.name)) for s in all_series] + [
            (s, 1) for s in partial_series]:
        if slot is None:
            raise StoreError(f"InfluxDB query: unexpected measurement {series.name!r}")
        for row in series.rows():
            n = row.get("n")
            if n:
                key = (str(row[TAG_DEVICE]), str(row[TAG_EXERCISE]))
                counts.setdefault(key, [0, 0, 0])[slot] += int(n)
    rom: dict[tuple[str, str], list[int]] = {}
    seen: set[tuple[str, int]] = set()
    for series in set_series:
        for row in series.rows():
            seq, reps, mean = row.get("seq"), row.get("reps"), row.get("mean_rom_cdeg")
            device = str(row[TAG_DEVICE])
            if seq is None or reps is None or mean is None or (device, seq) in seen:
                continue  # a torn point is whole by the time its marker is read
            seen.add((device, seq))
            full, total = set_rom({"reps": int(reps), "mean_rom_cdeg": int(mean)})
            acc = rom.setdefault((device, str(row[TAG_EXERCISE])), [0, 0])
            acc[0] += total
            acc[1] += full
    return {key: (total - partial, partial, sets, *rom.get(key, (0, 0)))
            for key, (total, partial, sets) in counts.items()}
