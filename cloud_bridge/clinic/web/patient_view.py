"""What the patient page shows, gathered from the store and the registry.

* The last DAYS_SHOWN days per exercise done or prescribed in them, from the daily
  totals (reps, partial reps, sets, and the mean range of motion per day from their ROM
  sums) and the prescription's target per day (targets.py).
* An adherence calendar of the current and the previous 30-day monitoring periods: days
  with data as billing counts them (billing_report.days_with_data), with billing's reading
  of the period (billing.supply_period), so the page and the billing report agree. Today
  without data is "to come", not "no data": its data mostly comes with tonight's sync.
* Adherence per exercise and over all exercises, as `rtm-clinic patient` has it: over the
  days shown but today (patient_report.adherence_before_today, adherence.py's figures), in
  the order of the prescription (patient_report.prescribed_order), exercises done but not
  prescribed in those days after them, by name.
* Per day, the prescription's ROM target range (targets.rom_target_in), for the band
  behind the ROM chart's line.
* The reasons for attention (attention.py, as on the worklist), each wearable's latest
  state in words (device_status.py) and the prescription in force today.

Reads: one Store.daily_totals from the start of monitoring (or the trend windows, if
later) to today, which gives the days shown, the trends, the calendars and the episode's
days with data; one Store.undated for the days shown (reps of unknown date: few, not in the
totals); one Store.device_states; and only if there is no data in those days, one
Store.last_days for the last day with data. Days only, never records.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import attention, billing, patient_report
from cloud_bridge.clinic.adherence import AdherenceReport, ExerciseAdherence
from cloud_bridge.clinic.attention import Assessment, PatientData
from cloud_bridge.clinic.device_status import state_text
from cloud_bridge.clinic.prescriptions import Item, Prescription, Prescriptions, in_force
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.clinic.rom import rom_per_day
from cloud_bridge.clinic.summary import reps_per_day
from cloud_bridge.clinic.web.charts import Band
from cloud_bridge.clinic.web.targets import TargetPerDay, rom_target_in, target_per_day
from cloud_bridge.daily import day_start_ms, days_between
from cloud_bridge.stores.base import Store

DAYS_SHOWN = 14
PERIODS_SHOWN = 2  # the running one and the one before


@dataclass(frozen=True)
class DayRow:
    day: date
    reps: int
    partial: int
    sets: int
    mean_rom_deg: float | None  # None: no set with full reps that day
    target: int | None  # None: no prescribed target
    rom_target: tuple[int, int] | None  # (min, max) degrees; None: no prescribed range


@dataclass(frozen=True)
class ExerciseDays:
    exercise: str
    days: list[DayRow]  # DAYS_SHOWN of them, oldest first
    item: Item | None  # as prescribed on the last day it was, in the days shown; None: never
    # Over the days shown but today (PatientPage.adherence); None: not prescribed in them.
    adherence: ExerciseAdherence | None

    @property
    def total_reps(self) -> int:
        return sum(d.reps for d in self.days)

    @property
    def rom_bands(self) -> list[Band]:
        """The ROM target as runs of consecutive days with the same range, oldest first."""
        bands: list[Band] = []
        for d in self.days:
            if d.rom_target is None:
                continue
            low, high = d.rom_target
            last = bands[-1] if bands else None
            if (last is not None and last.last == d.day - timedelta(days=1)
                    and (last.low, last.high) == (low, high)):
                bands[-1] = last._replace(last=d.day)
            else:
                bands.append(Band(d.day, d.day, low, high))
        return bands


@dataclass(frozen=True)
class CalendarDay:
    day: date
    # "data", "none" (no data), "future" (to come: later days, and today until its data
    # comes), "outside" (not in the period)
    state: str


@dataclass(frozen=True)
class PeriodCalendar:
    period: billing.SupplyPeriod
    weeks: list[list[CalendarDay]]  # Monday to Sunday


@dataclass(frozen=True)
class PatientPage:
    patient_id: str
    monitoring_start: date
    devices: list[str]
    today: date
    first_day: date  # of the days shown
    last_day_with_data: date | None
    days_with_data: int  # in the episode, up to today
    exercises: list[ExerciseDays]
    calendars: list[PeriodCalendar]  # the running period first
    undated_reps: int  # in the days shown: made after a power loss, day unknown
    assessment: Assessment  # the reasons for attention
    wearables: list[tuple[str, str]]  # (device id, its latest state in words)
    prescription: Prescription | None  # in force today
    # Over the days shown but today, as rtm-clinic patient; None before monitoring starts.
    adherence: AdherenceReport | None

    @property
    def adherence_judged_from(self) -> date:
        """Before this day, "nothing found" says nothing about adherence (attention.py)."""
        return attention.adherence_judged_from(self.monitoring_start)


def calendar(period: billing.SupplyPeriod, with_data: set[date],
             today: date) -> PeriodCalendar:
    start = period.first - timedelta(days=period.first.weekday())
    end = period.last + timedelta(days=6 - period.last.weekday())
    cells = []
    for day in days_between(start, end):
        if not period.first <= day <= period.last:
            state = "outside"
        elif day in with_data and day <= today:
            state = "data"
        elif day >= today:
            # Today's data mostly comes with tonight's sync: not missing yet.
            state = "future"
        else:
            state = "none"
        cells.append(CalendarDay(day, state))
    return PeriodCalendar(period, [cells[i:i + 7] for i in range(0, len(cells), 7)])


def build(store: Store, registry: Registry, conn: sqlite3.Connection, patient_id: str,
          today: date, zone: ZoneInfo,
          target: TargetPerDay = target_per_day) -> PatientPage:
    """The page of `patient_id` (in the registry) as of `today`, days in `zone`."""
    devices = registry.devices_of(patient_id)
    start = registry.monitoring_start(patient_id)
    first = today - timedelta(days=DAYS_SHOWN - 1)
    shown = list(days_between(first, today))
    # From the first day of attention's trend windows, which start a day before those shown.
    read_from = min(first, today - timedelta(days=2 * attention.TREND_DAYS))
    # From the start too: the calendars and the episode's days with data (billing's).
    first_read = min(start, read_from)
    totals = store.daily_totals(devices, first_read, today)
    counts = reps_per_day([t for t in totals if t.day >= first])
    recent = [t for t in totals if t.day >= read_from]
    rom_sums = rom_per_day(recent)
    rom = {key: s.total_cdeg / s.reps / 100 for key, s in rom_sums.items() if key[1] >= first}
    history = Prescriptions(conn).history(patient_id)
    # Done or prescribed: an exercise not done at all is the first thing to see. In the
    # prescription's order, as rtm-clinic patient lists them.
    prescribed = patient_report.prescribed_order(history, shown)
    exercises = prescribed + sorted({name for per_day in counts.values() for name in per_day}
                                    - set(prescribed))
    running = billing.period_index(start, today)
    report = (patient_report.adherence_before_today(history, totals, first, today)
              if running is not None else None)
    by_exercise = {e.exercise: e for e in report.exercises} if report else {}
    rows = []
    for name in exercises:
        days, item = [], None
        for day in shown:
            c = counts.get(day, {}).get(name)
            p = in_force(history, day)
            item = (p.item(name) if p is not None else None) or item
            days.append(DayRow(day, c.reps if c else 0, c.partial if c else 0,
                               c.sets if c else 0, rom.get((name, day)),
                               target(conn, patient_id, name, day),
                               rom_target_in(history, name, day)))
        rows.append(ExerciseDays(name, days, item, by_exercise.get(name)))
    # As billing_report.days_with_data counts them: from the start of monitoring.
    with_data = {t.day for t in totals if start <= t.day <= today}
    calendars = []
    if running is not None:
        for k in range(running, max(running - PERIODS_SHOWN, -1), -1):
            calendars.append(calendar(billing.supply_period(start, k, with_data, today),
                                      with_data, today))
    undated = store.undated(devices, day_start_ms(first, zone),
                            day_start_ms(today + timedelta(days=1), zone))
    states = store.device_states(devices, recent_ms=attention.states_recent_ms(today, zone))
    last = max((t.day for t in totals), default=None)
    if last is None:  # the last data is older than the days read, if there is any
        last = max(store.last_days(devices, first_read - timedelta(days=1)).values(),
                   default=None)
    assessment = attention.assess(PatientData(patient_id, start, devices, history, recent,
                                              rom_sums, states, last), today, zone)
    return PatientPage(
        patient_id, start, devices, today, first, last, len(with_data), rows, calendars,
        sum(1 for r in undated if r.kind == "rep" and not r.partial), assessment,
        [(d, state_text(states.get(d), zone)) for d in devices], in_force(history, today),
        report)
