"""One patient at a glance (`rtm-clinic patient ID`): readable in thirty seconds.

Header: the monitoring period (day k of 30, days with data so far, billing's reading of
it), the last day with data, each wearable's latest state. Then one row per prescribed
exercise over the last DAYS_SHOWN days, done/prescribed per day (`--` nothing done on a day
it was prescribed, `.` not prescribed that day), with its adherence over those days but
today (its data mostly comes with tonight's sync, as attention.py has it: counting it
would make every patient look a day worse) and its mean ROM over the last 7 full days, an
arrow for the change from the 7 before and the target range; exercises done but not
prescribed in one line; last, the attention reasons (attention.py), where the eye ends up
in a terminal.

Reads days only, never records: one Store.daily_totals over the days shown, the trend
windows and the running 30-day period (ROM included), one Store.device_states, and only if
there is no data in those days, one Store.last_days for the last day with data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import adherence, attention, billing, rom
from cloud_bridge.clinic.attention import Assessment, PatientData
from cloud_bridge.clinic.device_status import device_line
from cloud_bridge.clinic.prescriptions import Item, Prescription, in_force
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.daily import DailyTotal, days_between
from cloud_bridge.device_state import DeviceState
from cloud_bridge.stores.base import Store

DAYS_SHOWN = 14
CELL = 5  # "30/30"; wider counts push their column only
# A change of the weekly mean ROM within this many degrees is drawn as steady: the arrow is
# for a glance; attention.ROM_DROP_DEG is what raises a reason.
ROM_STEADY_DEG = 3


@dataclass(frozen=True)
class ExerciseRow:
    exercise: str
    item: Item | None  # as prescribed on the last day it was, within the days shown
    cells: list[str]  # one per day shown
    adherence: adherence.ExerciseAdherence | None  # over the days shown but today
    partial: int  # partial reps over the days shown
    rom_now: rom.RomSum  # the last TREND_DAYS full days
    rom_before: rom.RomSum  # the TREND_DAYS before


@dataclass(frozen=True)
class PatientReport:
    patient_id: str
    today: date
    zone: ZoneInfo
    monitoring_start: date
    period: billing.SupplyPeriod | None  # the running one; None before monitoring starts
    devices: list[str]
    states: dict[str, DeviceState]
    current: Prescription | None  # in force today
    days: list[date]  # the days shown, oldest first
    rows: list[ExerciseRow]  # prescribed exercises
    others: dict[str, tuple[int, int]]  # not prescribed: exercise -> (full reps, days)
    assessment: Assessment


def _cell(done: int, item: Item | None) -> str:
    if item is None:
        return str(done) if done else "."
    return f"{done}/{item.reps_per_day}" if done else "--"


def build(store: Store, registry: Registry, patient_id: str, history: Sequence[Prescription],
          today: date) -> PatientReport:
    """The report of `patient_id` (in the registry) as of `today`, days in the store's
    zone."""
    zone = store.zone
    devices = registry.devices_of(patient_id)
    start = registry.monitoring_start(patient_id)
    first_shown = today - timedelta(days=DAYS_SHOWN - 1)
    trend_first = today - timedelta(days=2 * attention.TREND_DAYS)
    running = billing.period_index(start, today)
    period_first = billing.period_bounds(start, running)[0] if running is not None else today
    first = min(first_shown, trend_first, period_first)
    totals = store.daily_totals(devices, first, today)
    last = max((t.day for t in totals), default=None)
    if last is None:  # the last data is older than the days read, if there is any
        last = max(store.last_days(devices, first - timedelta(days=1)).values(), default=None)
    per_day = rom.rom_per_day(totals)
    states = store.device_states(devices, recent_ms=attention.states_recent_ms(today, zone))
    a = attention.assess(PatientData(patient_id, start, devices, history, totals, per_day,
                                     states, last), today, zone)
    days = list(days_between(first_shown, today))
    shown = [t for t in totals if first_shown <= t.day]
    report = adherence.compute(history, shown, first_shown, today)
    full_days = adherence_before_today(history, shown, first_shown, today)
    period = None
    if running is not None:
        period = billing.supply_period(start, running, {t.day for t in totals}, today)
    return PatientReport(patient_id, today, zone, start, period, devices, states,
                         in_force(history, today), days,
                         _rows(report, full_days, shown, per_day, history, days, today),
                         _others(report), a)


def adherence_before_today(history: Sequence[Prescription], totals: Sequence[DailyTotal],
                           first: date, today: date) -> adherence.AdherenceReport:
    """Adherence over first..the day before today: today's data mostly comes with tonight's
    sync (attention.py), counting it would make every patient look a day worse. The web
    patient page shows the same figures."""
    return adherence.compute(history, totals, first, today - timedelta(days=1))


def prescribed_order(history: Sequence[Prescription], days: Sequence[date]) -> list[str]:
    """The exercises prescribed on any of `days`: those of the newest version first, in its
    order, then those only the older versions had."""
    names: list[str] = []
    for day in reversed(days):
        p = in_force(history, day)
        names += [i.exercise for i in (p.items if p else ()) if i.exercise not in names]
    return names


def _rows(report: adherence.AdherenceReport, full_days: adherence.AdherenceReport,
          shown: list[DailyTotal], per_day: rom.RomPerDay, history: Sequence[Prescription],
          days: list[date], today: date) -> list[ExerciseRow]:
    recent = list(days_between(today - timedelta(days=attention.TREND_DAYS),
                               today - timedelta(days=1)))
    previous = [d - timedelta(days=attention.TREND_DAYS) for d in recent]
    by_exercise = {e.exercise: e for e in full_days.exercises}
    rows = []
    for x in prescribed_order(history, days):
        done = {d.day: d for d in report.days if d.exercise == x}
        cells, last_item = [], None
        for day in days:
            a = done.get(day)
            p = in_force(history, day)
            item = p.item(x) if p is not None else None
            last_item = item or last_item
            cells.append(_cell(a.done if a else 0, item))
        rows.append(ExerciseRow(
            x, last_item, cells, by_exercise.get(x),
            sum(t.partial_reps for t in shown if t.exercise == x),
            rom.over(per_day, x, recent), rom.over(per_day, x, previous)))
    return rows


def _others(report: adherence.AdherenceReport) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for a in report.days:
        if a.item is None and a.done:
            reps, n = out.get(a.exercise, (0, 0))
            out[a.exercise] = (reps + a.done, n + 1)
    return dict(sorted(out.items()))


# -- text ------------------------------------------------------------------------------------

def _day(d: date) -> str:
    return f"{d:%a} {d}"


def _ago(today: date, day: date) -> str:
    n = (today - day).days
    return {0: "today", 1: "yesterday"}.get(n, f"{n} days ago")


def rom_trend(now: rom.RomSum, before: rom.RomSum) -> str:
    """'58° ↓ from 62°' over the last 7 full days vs the 7 before; '' without ROM."""
    if now.mean_deg is None:
        return ""
    if before.mean_deg is None:
        return f"{now.mean_deg:.0f}°"
    change = now.mean_deg - before.mean_deg
    arrow = "→" if abs(change) < ROM_STEADY_DEG else "↑" if change > 0 else "↓"
    return f"{now.mean_deg:.0f}° {arrow} from {before.mean_deg:.0f}°"


def percent(x: Fraction | None) -> str:
    """'56%'; 'n/a' for None. The web patient page prints adherence with it too."""
    return "n/a" if x is None else f"{float(x) * 100:.0f}%"


def days_text(x: Fraction) -> str:
    """10 for 10, 8.6 for 60/7: expected days are whole in whole weeks."""
    return f"{float(x):.1f}".removesuffix(".0")


def _exercise_lines(r: ExerciseRow, label_width: int) -> list[str]:
    head = f"{r.exercise:<{label_width}} " + " ".join(f"{c:>{CELL}}" for c in r.cells)
    facts = []
    if r.item is not None:
        facts.append(f"{r.item.sets} x {r.item.reps}, {r.item.days_per_week} days/week")
    if r.adherence is not None:
        e = r.adherence
        facts.append(f"{e.exercise_days} of {days_text(e.expected_days)} exercise days, "
                     f"{percent(e.ratio)} of prescribed reps")
    if r.partial:
        facts.append(f"+{r.partial} partial reps")
    trend = rom_trend(r.rom_now, r.rom_before)
    target = (f"target {r.item.rom[0]}-{r.item.rom[1]}°" if r.item and r.item.rom else "")
    if trend:
        facts.append(f"mean ROM {trend}" + (f" ({target})" if target else ""))
    elif target:
        facts.append(f"no ROM in the last {attention.TREND_DAYS} days ({target})")
    return [head, " " * (label_width + 1) + "; ".join(facts)]


def _days_table(r: PatientReport) -> list[str]:
    lines = [f"Last {len(r.days)} days: full reps done/prescribed per day (-- none done, "
             ". not prescribed that day)",
             f"adherence over the {len(r.days) - 1} days before today: today's data comes "
             "with tonight's sync; an exercise day has at least "
             f"{adherence.DEFAULT_THRESHOLD_PCT}% of its prescribed reps",
             f"mean ROM over the last {attention.TREND_DAYS} full days, the arrow from the "
             f"{attention.TREND_DAYS} before"]
    width = max([len(x.exercise) for x in r.rows] + [len("day")])
    lines.append(" " * (width + 1) + " ".join(f"{d:%a}".rjust(CELL) for d in r.days))
    lines.append(" " * (width + 1) + " ".join(f"{d:%m-%d}".rjust(CELL) for d in r.days))
    for row in r.rows:
        lines += _exercise_lines(row, width)
    if not r.rows:
        lines.append("(nothing prescribed in these days)")
    return lines


def format_text(r: PatientReport) -> str:
    lines = [f"Patient {r.patient_id}, {_day(r.today)} (days in {r.zone.key})"]
    if r.period is None:
        lines.append(f"Monitoring starts on {_day(r.monitoring_start)}.")
    else:
        p = r.period
        k = (r.today - p.first).days + 1
        lines.append(f"Monitoring since {r.monitoring_start}: period {p.index + 1} "
                     f"({p.first} to {p.last}), day {k} of {billing.PERIOD_DAYS}: "
                     f"{p.reason}")
    last = r.assessment.last_day_with_data
    lines.append(f"Last data: {_day(last)} ({_ago(r.today, last)})" if last
                 else "Last data: none yet")
    for d in r.devices:
        text = device_line(d, r.states.get(d), r.zone)
        lines.append(text[0].upper() + text[1:])
    if r.current is None:
        lines.append("Prescription: none in force")
    else:
        what = "; ".join(i.describe() for i in r.current.items) or "no exercises (ended)"
        lines.append(f"Prescription v{r.current.version} from {r.current.start}: {what}")

    if r.period is not None:
        lines += ["", *_days_table(r)]
    if r.others:
        lines.append("Not prescribed: " + "; ".join(
            f"{x} {reps} reps on {n} day{'' if n == 1 else 's'}"
            for x, (reps, n) in r.others.items()))

    lines.append("")
    if r.assessment.reasons:
        lines.append("Needs attention:")
        lines += [f"  {x.severity.label:<6}  {x.text}" for x in r.assessment.reasons]
    else:
        judged = attention.adherence_judged_from(r.monitoring_start)
        lines.append("Needs attention: nothing found" + (
            f" (adherence judged from {_day(judged)})"
            if r.period is not None and r.today < judged else ""))
    return "\n".join(lines)
