"""What a clinician asks of the store: reps per patient, exercise and day; the last day
with activity; and days with data in the current 30-day monitoring period.

Days are calendar days in the clinic's time zone. Only full reps count as reps; partial
reps are reported separately.

Everything per day comes from the store's daily totals (Store.daily_totals), so a year of
history costs one row per active device, exercise and day, not one per rep. Only the
undated records (made after a power loss, before a sync: on no day) are read as records;
they are few.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.registry import Registry
from cloud_bridge.daily import DailyTotal, day_start_ms, local_day
from cloud_bridge.stores.base import Store

__all__ = ["PERIOD_DAYS", "DayCounts", "PatientSummary", "current_period_start",
           "day_start_ms", "format_summary", "local_day", "reps_per_day", "summarize"]

PERIOD_DAYS = 30


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


def reps_per_day(totals: list[DailyTotal]) -> dict[date, dict[str, DayCounts]]:
    """Counts per local day and exercise, summed over the devices of `totals`."""
    days: dict[date, dict[str, DayCounts]] = defaultdict(lambda: defaultdict(DayCounts))
    for t in totals:
        counts = days[t.day][t.exercise]
        counts.reps += t.reps
        counts.partial += t.partial_reps
        counts.sets += t.sets
    return {d: dict(ex) for d, ex in sorted(days.items())}


def current_period_start(monitoring_start: date, today: date) -> date:
    """Start of the 30-day period (counted from the start of monitoring) holding today."""
    if today < monitoring_start:
        return monitoring_start
    periods = (today - monitoring_start).days // PERIOD_DAYS
    return monitoring_start + timedelta(days=periods * PERIOD_DAYS)


def summarize(store: Store, registry: Registry, first: date, last: date, today: date,
              tz: ZoneInfo, lookback_days: int = 365) -> list[PatientSummary]:
    """One summary per patient: days first..last, history over `lookback_days` to today.

    `tz` must be the store's zone (its daily totals are for days there); the store is asked
    three times for all patients together, not three times per patient."""
    if tz.key != store.zone.key:
        raise ValueError(f"summary for days in {tz.key}, but the store was opened for "
                         f"{store.zone.key}: open it with zone={tz.key!r}")
    devices = sorted({d for p in registry.patients() for d in registry.devices_of(p)})
    history_start = today - timedelta(days=lookback_days)
    totals = store.daily_totals(devices, min(first, history_start), max(last, today))
    undated = store.undated(devices, day_start_ms(first, tz),
                            day_start_ms(last + timedelta(days=1), tz))
    out = []
    for patient in registry.patients():
        mine = set(registry.devices_of(patient))
        own = [t for t in totals if t.device_id in mine]
        s = PatientSummary(patient)
        s.days = reps_per_day([t for t in own if first <= t.day <= last])
        s.undated_reps = sum(1 for r in undated
                             if r.device_id in mine and r.kind == "rep" and not r.partial)
        active = {t.day for t in own if history_start <= t.day <= today}
        s.last_active = max(active, default=None)
        s.period_start = current_period_start(registry.monitoring_start(patient), today)
        s.period_days_with_data = sum(1 for d in active if d >= s.period_start)
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
