"""What a clinician asks of the store: reps per patient, exercise and day; the last day
with activity; and days with data in the current 30-day monitoring period.

Days are calendar days in the clinic's time zone. Only full reps count as reps; partial
reps are reported separately.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.registry import Registry
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import Store

PERIOD_DAYS = 30


def day_start_ms(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), tz).timestamp() * 1000)


def local_day(t_ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(t_ms / 1000, tz).date()


@dataclass
class DayCounts:
    reps: int = 0
    partial: int = 0
    sets: int = 0


@dataclass
class PatientSummary:
    patient_id: str
    # day -> exercise -> counts
    days: dict[date, dict[str, DayCounts]] = field(default_factory=dict)
    last_active: date | None = None
    period_start: date | None = None
    period_days_with_data: int = 0
    undated_reps: int = 0  # made after a power loss, before a sync: day unknown


def records_between(store: Store, registry: Registry, patient_id: str, first: date,
                    last: date, tz: ZoneInfo) -> list[StoredRecord]:
    """The patient's records on local days first..last inclusive."""
    devices = registry.devices_of(patient_id)
    return store.query(devices, day_start_ms(first, tz), day_start_ms(last + timedelta(1), tz))


def reps_per_day(records: list[StoredRecord], tz: ZoneInfo) -> dict[date, dict[str, DayCounts]]:
    """Counts per local day and exercise, of records whose time is known."""
    days: dict[date, dict[str, DayCounts]] = defaultdict(lambda: defaultdict(DayCounts))
    for r in records:
        if not r.time_valid:
            continue
        counts = days[local_day(r.t_ms, tz)][r.exercise]
        if r.kind == "set":
            counts.sets += 1
        elif r.partial:
            counts.partial += 1
        else:
            counts.reps += 1
    return {d: dict(ex) for d, ex in sorted(days.items())}


def current_period_start(monitoring_start: date, today: date) -> date:
    """Start of the 30-day period (counted from the start of monitoring) holding today."""
    if today < monitoring_start:
        return monitoring_start
    periods = (today - monitoring_start).days // PERIOD_DAYS
    return monitoring_start + timedelta(days=periods * PERIOD_DAYS)


def summarize(store: Store, registry: Registry, first: date, last: date, today: date,
              tz: ZoneInfo, lookback_days: int = 365) -> list[PatientSummary]:
    out = []
    for patient in registry.patients():
        s = PatientSummary(patient)
        in_range = records_between(store, registry, patient, first, last, tz)
        s.days = reps_per_day(in_range, tz)
        s.undated_reps = sum(1 for r in in_range
                             if not r.time_valid and r.kind == "rep" and not r.partial)
        history = [r for r in records_between(store, registry, patient,
                                              today - timedelta(lookback_days), today, tz)
                   if r.time_valid]
        if history:
            s.last_active = max(local_day(r.t_ms, tz) for r in history)
        s.period_start = current_period_start(registry.monitoring_start(patient), today)
        s.period_days_with_data = len({local_day(r.t_ms, tz) for r in history
                                       if local_day(r.t_ms, tz) >= s.period_start})
        out.append(s)
    return out


def format_summary(summaries: list[PatientSummary], first: date, last: date) -> str:
    lines = [f"Reps per patient, exercise and day, {first} to {last}"]
    for s in summaries:
        active = s.last_active.isoformat() if s.last_active else "never"
        lines.append("")
        lines.append(f"{s.patient_id}: last active {active}; {s.period_days_with_data} days with "
                     f"data in the period from {s.period_start}")
        if not s.days:
            lines.append("  (no exercise recorded in this range)")
        if s.undated_reps:
            lines.append(f"  + {s.undated_reps} reps of unknown date (the wearable lost power "
                         "before it could sync)")
        for day, exercises in s.days.items():
            parts = []
            for name, c in sorted(exercises.items()):
                extra = f" (+{c.partial} partial)" if c.partial else ""
                parts.append(f"{name} {c.reps} reps in {c.sets} sets{extra}")
            lines.append(f"  {day}  " + "; ".join(parts))
    return "\n".join(lines)
