"""Adherence: what a patient did against what was prescribed, per day, week and exercise.

Pure functions over the prescription history (prescriptions.py) and the store's daily totals
(Store.daily_totals, summed over the patient's wearables), plus, if given, the range of motion
of each full rep (`rom_samples`, from the rep records of the window). Days are local days in
the clinic's zone, as in the daily totals; weeks run Monday to Sunday in that zone.

Definitions, for exercise x on day d, with the version in force on d (prescriptions.in_force)
prescribing item i for x (sets S, reps per set R, days per week W); x is "prescribed on d"
when there is such an item:

* Prescribed reps P(d, x) = S * R: what a day the patient exercises asks for.
* Done reps D(d, x): full reps of x recorded on d. Partial reps and reps of unknown date
  (made before a power loss, synced later) never count.
* Day adherence a(d, x) = min(1, D / P).
* d is an exercise day for x when D >= T% of P (T = `threshold_pct`, default 80).
* Expected exercise days over a set of days: E = sum of W / 7 over the days x is prescribed.
  A week cut by the window or split by a change of prescription thus expects its share:
  3 days of 5/week then 4 days of 3/week expect 15/7 + 12/7 = 27/7 days.
* Week adherence (Monday..Sunday, only the days inside the window) = min(1, N / E), N the
  exercise days for x in the week; undefined (None) when E = 0 (x not prescribed that week).
  The current week is therefore judged "so far".
* Exercise adherence over the window (reps) = min(1, sum of min(D, P) / sum of P * W / 7),
  both sums over the days x is prescribed: reps done, each day counted up to that day's
  prescription, over the reps the prescription asks for in the window. Extra reps on one
  day do not make up for a missed day; more days than prescribed do, up to 100 %.
  Exercise adherence in days = min(1, N / E) over the window.
* "All exercises" for a week or the window: the mean of the exercises' figures that are
  defined.
* An exercise done on a day it is not prescribed (not in the version in force, before the
  first version, or the wearable's generic sets) is reported as not prescribed and counts
  for nothing.
* ROM (reported, not part of adherence): the mean ROM of the full reps, and the share of
  them inside the item's target range (ends included).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.prescriptions import Item, Prescription, in_force
from cloud_bridge.daily import DailyTotal, days_between, local_day
from cloud_bridge.records import StoredRecord

DEFAULT_THRESHOLD_PCT = 80
_ONE = Fraction(1)

# (local day, exercise) -> ROM of each full rep, in centidegrees
RomSamples = Mapping[tuple[date, str], Sequence[int]]


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class RomSummary:
    reps: int  # full reps with a ROM
    mean_deg: float
    ranged: int  # of them, reps on days with a target range
    in_range: int  # of those, reps inside it

    @property
    def in_range_share(self) -> float | None:
        return self.in_range / self.ranged if self.ranged else None


def _rom_summary(parts: Iterable[tuple[Sequence[int], tuple[int, int] | None]]
                 ) -> RomSummary | None:
    reps = total = ranged = inside = 0
    for values, rom in parts:
        reps += len(values)
        total += sum(values)
        if rom is not None:
            low, high = rom[0] * 100, rom[1] * 100
            ranged += len(values)
            inside += sum(1 for v in values if low <= v <= high)
    return RomSummary(reps, total / reps / 100, ranged, inside) if reps else None


@dataclass(frozen=True)
class DayAdherence:
    """One exercise on one day: prescribed that day, done that day, or both."""

    day: date
    exercise: str
    done: int  # full reps
    partial: int
    item: Item | None  # what was prescribed for it that day; None: not prescribed
    version: int | None  # the prescription version in force that day
    exercise_day: bool  # done >= threshold of prescribed
    rom: RomSummary | None

    @property
    def prescribed(self) -> int | None:
        return self.item.reps_per_day if self.item is not None else None

    @property
    def ratio(self) -> Fraction | None:
        """a(d, x) = min(1, D / P); None when not prescribed."""
        if self.item is None:
            return None
        return min(_ONE, Fraction(self.done, self.item.reps_per_day))


@dataclass(frozen=True)
class WeekAdherence:
    week: date  # its Monday
    days_covered: int  # days of the week inside the window
    exercise: str
    exercise_days: int
    expected_days: Fraction

    @property
    def ratio(self) -> Fraction | None:
        if not self.expected_days:
            return None
        return min(_ONE, self.exercise_days / self.expected_days)


@dataclass(frozen=True)
class ExerciseAdherence:
    exercise: str
    reps_done: int  # full reps on the days it was prescribed
    reps_counted: int  # sum of min(D, P)
    reps_expected: Fraction  # sum of P * W / 7
    exercise_days: int
    expected_days: Fraction
    rom: RomSummary | None

    @property
    def ratio(self) -> Fraction | None:
        if not self.reps_expected:
            return None
        return min(_ONE, self.reps_counted / self.reps_expected)

    @property
    def days_ratio(self) -> Fraction | None:
        if not self.expected_days:
            return None
        return min(_ONE, self.exercise_days / self.expected_days)


def _mean(values: Iterable[Fraction | None]) -> Fraction | None:
    defined = [v for v in values if v is not None]
    return sum(defined, Fraction(0)) / len(defined) if defined else None


@dataclass(frozen=True)
class AdherenceReport:
    first: date
    last: date
    threshold_pct: int
    days: list[DayAdherence]  # by day; prescribed exercises in item order, then the rest
    weeks: list[WeekAdherence]  # by week, then exercise in the prescription's order
    exercises: list[ExerciseAdherence]  # every exercise prescribed in the window
    unprescribed: dict[str, int]  # full reps of exercises done when not prescribed

    def week_overall(self, week: date) -> Fraction | None:
        return _mean(w.ratio for w in self.weeks if w.week == week)

    @property
    def overall(self) -> Fraction | None:
        return _mean(e.ratio for e in self.exercises)


def rom_samples(records: Iterable[StoredRecord],
                zone: ZoneInfo) -> dict[tuple[date, str], list[int]]:
    """ROM of every full rep with a known time, per local day and exercise (the input
    `compute` takes); set summaries, partial and undated reps are left out."""
    out: dict[tuple[date, str], list[int]] = defaultdict(list)
    for r in records:
        if r.kind == "rep" and r.time_valid and not r.partial:
            out[(local_day(r.t_ms, zone), r.exercise)].append(r.values["rom_cdeg"])
    return dict(out)


def compute(history: Sequence[Prescription], totals: Iterable[DailyTotal], first: date,
            last: date, rom: RomSamples | None = None,
            threshold_pct: int = DEFAULT_THRESHOLD_PCT) -> AdherenceReport:
    """Adherence over first..last (inclusive). `totals`: the daily totals of the patient's
    wearables (several per day and exercise are summed); `rom`: rom_samples of the same
    window, or None to leave ROM out."""
    if not 1 <= threshold_pct <= 100:
        raise ValueError(f"threshold must be 1..100 %, got {threshold_pct}")
    if first > last:
        raise ValueError(f"the window starts ({first}) after it ends ({last})")
    done: dict[date, dict[str, list[int]]] = defaultdict(dict)
    for t in totals:
        if first <= t.day <= last:
            counts = done[t.day].setdefault(t.exercise, [0, 0])
            counts[0] += t.reps
            counts[1] += t.partial_reps
    rom = rom or {}

    days: list[DayAdherence] = []
    unprescribed: dict[str, int] = defaultdict(int)
    for day in days_between(first, last):
        p = in_force(history, day)
        items = p.items if p is not None else ()
        today = done.get(day, {})
        names = [i.exercise for i in items]
        others = sorted(x for x in today if x not in names)
        for item in items:
            d, partial = today.get(item.exercise, (0, 0))
            days.append(DayAdherence(
                day, item.exercise, d, partial, item, p.version if p else None,
                d * 100 >= threshold_pct * item.reps_per_day,
                _rom_summary([(rom.get((day, item.exercise), ()), item.rom)])))
        for x in others:
            d, partial = today[x]
            if d == 0 and partial == 0:
                continue
            unprescribed[x] += d
            days.append(DayAdherence(day, x, d, partial, None, p.version if p else None,
                                     False, _rom_summary([(rom.get((day, x), ()), None)])))
    return AdherenceReport(first, last, threshold_pct, days, _weeks(days, first, last),
                           _exercises(days, rom), dict(unprescribed))


def overall(history: Sequence[Prescription], totals: Iterable[DailyTotal], first: date,
            last: date) -> Fraction | None:
    """compute(history, totals, first, last).overall, the "all exercises" reps adherence,
    without the report around it: the worklist asks it twice for each of 1,000 patients,
    and the per-day, per-week and Fraction-per-day bookkeeping of `compute` is what costs.
    Per exercise, sum of min(D, P) over sum of P x W / 7 is 7 x counted / sum of P x W:
    whole numbers until the one division."""
    if first > last:
        raise ValueError(f"the window starts ({first}) after it ends ({last})")
    done: dict[tuple[date, str], int] = defaultdict(int)
    for t in totals:
        if first <= t.day <= last:
            done[(t.day, t.exercise)] += t.reps
    counted: dict[str, int] = defaultdict(int)
    weighted: dict[str, int] = defaultdict(int)  # sum of P x W over the prescribed days
    for day in days_between(first, last):
        p = in_force(history, day)
        for item in p.items if p is not None else ():
            prescribed = item.reps_per_day
            counted[item.exercise] += min(done.get((day, item.exercise), 0), prescribed)
            weighted[item.exercise] += prescribed * item.days_per_week
    # min(1, 7 x counted / w) per exercise as (numerator, denominator), and their mean
    # over a common denominator: one Fraction made, not one per addition.
    ratios = [(1, 1) if 7 * counted[x] >= w else (7 * counted[x], w)
              for x, w in weighted.items() if w]
    if not ratios:
        return None
    common = math.lcm(*(q for _, q in ratios))
    return Fraction(sum(p * (common // q) for p, q in ratios), common * len(ratios))


def _weeks(days: list[DayAdherence], first: date, last: date) -> list[WeekAdherence]:
    per: dict[tuple[date, str], list] = {}
    for a in days:
        if a.item is None:
            continue
        acc = per.setdefault((week_start(a.day), a.exercise), [0, Fraction(0)])
        acc[0] += a.exercise_day
        acc[1] += Fraction(a.item.days_per_week, 7)
    out = []
    # In the order met: weeks in turn, each with its exercises in the prescription's order.
    for (week, exercise), (n, expected) in per.items():
        covered = (min(last, week + timedelta(days=6)) - max(first, week)).days + 1
        out.append(WeekAdherence(week, covered, exercise, n, expected))
    return out


def _exercises(days: list[DayAdherence], rom: RomSamples) -> list[ExerciseAdherence]:
    """Sums over the days each exercise is prescribed, in the order first prescribed."""
    per: dict[str, list[DayAdherence]] = {}
    for a in days:
        if a.item is not None:
            per.setdefault(a.exercise, []).append(a)
    out = []
    for x, mine in per.items():
        reps_expected = expected_days = Fraction(0)
        for a in mine:
            assert a.item is not None
            share = Fraction(a.item.days_per_week, 7)
            reps_expected += a.item.reps_per_day * share
            expected_days += share
        out.append(ExerciseAdherence(
            x, reps_done=sum(a.done for a in mine),
            reps_counted=sum(min(a.done, a.item.reps_per_day) for a in mine if a.item),
            reps_expected=reps_expected,
            exercise_days=sum(1 for a in mine if a.exercise_day),
            expected_days=expected_days,
            rom=_rom_summary((rom.get((a.day, x), ()), a.item.rom) for a in mine if a.item)))
    return out


def _pct(ratio: Fraction | None) -> str:
    return "n/a" if ratio is None else f"{float(ratio) * 100:.0f}%"


def _rom_text(rom: RomSummary | None) -> str:
    if rom is None:
        return ""
    share = rom.in_range_share
    inside = f", {share * 100:.0f}% in range" if share is not None else ""
    return f"ROM mean {rom.mean_deg:.0f} deg{inside}"


def format_report(patient_id: str, report: AdherenceReport, history: Sequence[Prescription],
                  zone: str, undated_reps: int = 0) -> str:
    """The report as the clinician reads it (rtm-clinic adherence)."""
    lines = [f"Adherence of {patient_id}, {report.first} to {report.last} (days in {zone}; "
             f"weeks Monday to Sunday)",
             f"An exercise day: at least {report.threshold_pct}% of the day's prescribed reps."]
    versions = sorted({p.version: p for d in days_between(report.first, report.last)
                       if (p := in_force(history, d)) is not None}.values(),
                      key=lambda p: p.version)
    lines.append("")
    if not versions:
        lines.append("No prescription in force in this window.")
    for p in versions:
        what = "; ".join(i.describe() for i in p.items) or "no exercises (ended)"
        lines.append(f"Prescription version {p.version} from {p.start}: {what}")
    if undated_reps:
        lines.append(f"+ {undated_reps} reps of unknown date (the wearable lost power before "
                     "it could sync): not counted")

    lines += ["", "Per exercise"]
    for e in report.exercises:
        rom = _rom_text(e.rom)
        lines.append(f"  {e.exercise}: {_pct(e.ratio)} of prescribed reps "
                     f"({e.reps_counted} counted of {float(e.reps_expected):.1f}); "
                     f"{e.exercise_days} of {float(e.expected_days):.1f} exercise days "
                     f"({_pct(e.days_ratio)})" + (f"; {rom}" if rom else ""))
    if report.exercises:
        lines.append(f"  all exercises: {_pct(report.overall)}")
    if report.unprescribed:
        done = ", ".join(f"{x} {n} reps" for x, n in sorted(report.unprescribed.items()))
        lines.append(f"  not prescribed: {done}")
    if not report.exercises and not report.unprescribed:
        lines.append("  (nothing prescribed or recorded)")

    lines += ["", "Per week"]
    weeks = sorted({w.week for w in report.weeks})
    for week in weeks:
        mine = [w for w in report.weeks if w.week == week]
        part = f" ({mine[0].days_covered} of 7 days)" if mine[0].days_covered < 7 else ""
        parts = [f"{w.exercise} {w.exercise_days} of {float(w.expected_days):.1f} days "
                 f"({_pct(w.ratio)})" for w in mine]
        lines.append(f"  week of {week}{part}: " + ", ".join(parts)
                     + f"; all {_pct(report.week_overall(week))}")
    if not weeks:
        lines.append("  (no exercise prescribed)")

    lines += ["", "Per day"]
    by_day: dict[date, list[DayAdherence]] = defaultdict(list)
    for a in report.days:
        by_day[a.day].append(a)
    for day in days_between(report.first, report.last):
        parts = []
        for a in by_day.get(day, []):
            partial = f" +{a.partial} partial" if a.partial else ""
            rom = _rom_text(a.rom)
            if a.item is None:
                parts.append(f"{a.exercise} {a.done} reps{partial} (not prescribed)")
            else:
                detail = ", ".join(x for x in (_pct(a.ratio), rom) if x)
                parts.append(f"{a.exercise} {a.done}/{a.prescribed}{partial} ({detail})")
        lines.append(f"  {day} {day:%a}: " + ("; ".join(parts) or "nothing prescribed"))
    return "\n".join(lines)
