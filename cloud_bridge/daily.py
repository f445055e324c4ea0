"""Daily totals: what a clinician reads about a year without reading every rep.

A DailyTotal counts one wearable's records of one exercise on one calendar day in the
clinic's time zone: full reps, partial reps and set summaries (counts of records, as the
clinic summary shows them), and the range of motion of the day's sets (`set_rom`: the full
reps the set summaries report and the sum of their ROM), so that the clinic's views read
days, not reps, for ROM too. Only records with a known time (time_valid) are on a day; the
others are undated (Store.undated) and on no day at all.

Days are local days: day D is [day_start_ms(D), day_start_ms(D + 1)), which is 23, 24 or
25 hours long around a DST change. Every store computes days with the helpers below, so
that `local_day(t) == D` exactly when t lies in D's range (tests/cloud_bridge/test_daily.py
checks this for zones with DST at midnight and with 30/45-minute offsets).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud_bridge.records import StoredRecord

UTC = ZoneInfo("UTC")


@dataclass(frozen=True, order=True)
class DailyTotal:
    """One wearable's records of one exercise on one local day (sorted in that order)."""

    device_id: str
    day: date
    exercise: str
    reps: int  # rep records that are not partial
    partial_reps: int  # rep records flagged partial
    sets: int  # set summary records
    # ROM of the day's sets (set_rom, summed): the mean ROM of the day's full reps is
    # rom_sum_cdeg / rom_reps centidegrees. Defaults: a total built without ROM.
    rom_sum_cdeg: int = 0
    rom_reps: int = 0

    @classmethod
    def fast(cls, device_id: str, day: date, exercise: str, reps: int, partial_reps: int,
             sets: int, rom_sum_cdeg: int, rom_reps: int) -> DailyTotal:
        """The same total as the constructor makes, in half the time (a frozen dataclass
        sets each field through object.__setattr__): stores make tens of thousands of them
        for one worklist."""
        total = object.__new__(cls)
        total.__dict__.update(device_id=device_id, day=day, exercise=exercise, reps=reps,
                              partial_reps=partial_reps, sets=sets, rom_sum_cdeg=rom_sum_cdeg,
                              rom_reps=rom_reps)
        return total


# The set payload's fields are u16 on the wire (firmware/core/codec.py): no wearable can
# report more. A set record beyond that (written by a test or a tool, not by the bridge)
# carries no ROM, so that no day's sum can overflow a 64-bit integer in a store.
ROM_VALUE_MAX = 65_535


def set_rom(values: Mapping[str, int]) -> tuple[int, int]:
    """(full reps, sum of their ROM in centidegrees) that one set summary's values add to
    its day: its `reps` and `mean_rom_cdeg` x `reps` (the wearable averages ROM over full
    reps only, so a day's mean is the sets' means weighted by their full reps); (0, 0) for
    a set without full reps or with values no wearable can send."""
    reps, mean = values.get("reps", 0), values.get("mean_rom_cdeg", 0)
    if not (0 < reps <= ROM_VALUE_MAX and 0 <= mean <= ROM_VALUE_MAX):
        return 0, 0
    return reps, reps * mean


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. America/New_York); ValueError naming it if there is none.
    ZoneInfo itself raises several kinds of error for a bad name (a folder such as
    "America" is an IsADirectoryError)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as "
                         "America/New_York)") from None


def day_start_ms(day: date, zone: ZoneInfo) -> int:
    """Unix ms of the first instant of `day` in `zone`.

    A midnight skipped by a DST change (fold=0 takes the offset before it) lands on the
    change itself, which is that day's first instant; a repeated midnight takes its first
    occurrence."""
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp()) * 1000


def day_range_ms(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of `day` in Unix ms."""
    return day_start_ms(day, zone), day_start_ms(day + timedelta(days=1), zone)


def local_day(t_ms: int, zone: ZoneInfo) -> date:
    """The local day holding Unix ms `t_ms`. Whole seconds decide: every zone offset is a
    whole number of seconds, so no day starts inside a second."""
    return local_day_range(t_ms, zone)[0]


def local_day_range(t_ms: int, zone: ZoneInfo) -> tuple[date, int, int]:
    """(local_day(t_ms), and that day's [start, end) in Unix ms)."""
    # Called for every record the bridge writes: the day found for a quarter of an hour is
    # kept with its bounds and reused for a time inside them (exact whatever the zone).
    key = (zone, t_ms // _BUCKET_MS)
    known = _DAYS.get(key)
    if known is not None and known[1] <= t_ms < known[2]:
        return known
    day = datetime.fromtimestamp(t_ms // 1000, zone).date()
    if len(_DAYS) >= _DAYS_MAX:
        _DAYS.clear()
    known = _DAYS[key] = (day, *day_range_ms(day, zone))
    return known


def dated_spans(records: Iterable[StoredRecord], zone: ZoneInfo
                ) -> dict[tuple[str, date], tuple[int, int]]:
    """(device, local day) -> (first, last t_ms) of the records with a known time: the days
    a write touches. Records come in runs of one device and day (a message is one wearable's
    records in order), so the day is looked up once per run, not per record."""
    spans: dict[tuple[str, date], tuple[int, int]] = {}
    device, day, start, end, first, last = "", _NO_DAY, 0, 0, 0, 0
    for rec in records:
        if not rec.time_valid:
            continue
        t_ms = rec.t_ms
        if rec.device_id == device and start <= t_ms < end:
            if t_ms < first:
                first = t_ms
            elif t_ms > last:
                last = t_ms
            continue
        if device:
            _merge_span(spans, (device, day), first, last)
        device = rec.device_id
        day, start, end = local_day_range(t_ms, zone)
        first = last = t_ms
    if device:
        _merge_span(spans, (device, day), first, last)
    return spans


_NO_DAY = date.min


def _merge_span(spans: dict[tuple[str, date], tuple[int, int]], key: tuple[str, date],
                first: int, last: int) -> None:
    known = spans.get(key)
    spans[key] = (first, last) if known is None else (min(known[0], first), max(known[1], last))


_BUCKET_MS = 900_000
_DAYS: dict[tuple[ZoneInfo, int], tuple[date, int, int]] = {}
_DAYS_MAX = 100_000


def days_between(first: date, last: date) -> Iterator[date]:
    """first, first + 1, ..., last (nothing if last < first)."""
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


class DailyCounter:
    """Folds records into DailyTotals, for a zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._counts: dict[tuple[str, date, str], list[int]] = {}

    def add(self, device_id: str, exercise: str, kind: str, partial: bool, t_ms: int,
            rom: tuple[int, int] = (0, 0)) -> None:
        """Count one record with a known time; `rom`: a set's set_rom."""
        key = (device_id, local_day(t_ms, self.zone), exercise)
        counts = self._counts.setdefault(key, [0, 0, 0, 0, 0])
        if kind == "set":
            counts[2] += 1
            counts[3] += rom[1]
            counts[4] += rom[0]
        elif partial:
            counts[1] += 1
        else:
            counts[0] += 1

    def totals(self) -> list[DailyTotal]:
        return sorted(DailyTotal(device, day, exercise, *counts)
                      for (device, day, exercise), counts in self._counts.items())


def count_daily(records: Iterable[StoredRecord], zone: ZoneInfo) -> list[DailyTotal]:
    """DailyTotals counted from records one per (device_id, seq), as Store.query returns
    them: the reference every store's daily_totals must equal."""
    counter = DailyCounter(zone)
    for rec in records:
        if rec.time_valid:
            counter.add(rec.device_id, rec.exercise, rec.kind, rec.partial, rec.t_ms,
                        set_rom(rec.values) if rec.kind == "set" else (0, 0))
    return counter.totals()
