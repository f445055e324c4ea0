"""Who needs attention, and why in words: the worklist's reasons and its order.

Pure functions: from one patient's daily totals, prescription history, ROM per day
(rom.py), device states (DeviceState, the latest per wearable) and "today", a list of
reasons, each with a severity, a score and a sentence; `rank` orders patients by them.
Days are local days in the clinic's zone, as in the daily totals.

Windows. Trends compare the last TREND_DAYS full days (yesterday and the 6 before) with the
TREND_DAYS before them. Today is left out: the gateway syncs overnight, so today's data
mostly arrives tomorrow, and counting a day that has barely begun would make every patient
look worse. A trend needs both windows inside the monitoring (a patient who started less
than 2 x TREND_DAYS + 1 days ago has none); "no data" and device problems need no history.

Reasons and their thresholds (the constants below say why each value):

* no data for NO_DATA_DAYS days or more: n = today - the last day with data, the worklist's
  "days since" (a patient who has never sent data counts from the day before monitoring
  started). URGENT.
* adherence falling: the reps adherence of adherence.py ("all exercises", the mean over the
  prescribed exercises) over the last 7 days is ADHERENCE_DROP_PCT points or more below the
  7 before. WARN.
* adherence low: under ADHERENCE_LOW_PCT over the last 7 days (once monitoring covers
  them), when it is not falling and "no data" does not already say so. NOTE.
* ROM getting worse: per exercise, the mean ROM of its full reps over the last 7 days is
  ROM_DROP_DEG or more below the 7 before, each window with ROM_MIN_REPS full reps. WARN.
* partial reps rising: per exercise, the share of partial reps among all its reps over the
  last 7 days is PARTIAL_SHARE_PCT or more and PARTIAL_RISE_PCT points or more above the 7
  before, each window with PARTIAL_MIN_REPS reps. WARN.
* device problems, per wearable, from its latest state: battery at or under
  BATTERY_LOW_PCT at the last sync; not synced for NOT_SYNCED_DAYS days or more (never
  synced, once monitoring has run that long); record storage STORAGE_NEARLY_FULL_PCT or
  more full (URGENT from STORAGE_FULL_PCT); SYNC_FAILURES or more failed syncs in a row.
  WARN unless said. A wearable without a state says nothing (its gateway has not reported
  one). With several wearables each reason names its wearable, and one without data in
  the last 2 x TREND_DAYS days while another of the patient's has some is taken as
  replaced: its state is old news, not a problem.
* no prescription yet, or the prescription ended (a version without exercises in force
  today): NOTE; the adherence reasons need one.

Nothing is said before monitoring starts.

Ranking (`rank`): patients with reasons first, by their highest severity, then by score:
the sum of their reasons' scores, each 1.0 at its threshold and growing with how far past
it the value is (10 days without data: 2.0), so two problems outrank one of the same
size; then by days without data, then id. Then the patients without reasons, longest
without data first, and those whose monitoring has not started last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum
from fractions import Fraction
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import adherence, rom
from cloud_bridge.clinic.prescriptions import GENERIC, Prescription, in_force
from cloud_bridge.daily import DailyTotal, day_start_ms, days_between, local_day
from cloud_bridge.device_state import DeviceState

# The issue's: five days without data is when the clinic calls.
NO_DATA_DAYS = 5
# Each window is a week: every prescription's days per week fall inside it once.
TREND_DAYS = 7
# In a 5-day-a-week program one missed day is 20 points of a week's adherence, an ordinary
# week-to-week swing; a drop of more than one missed day is a change worth a call.
ADHERENCE_DROP_PCT = 25
# Under half of what was prescribed: the dose is unlikely to do what it was chosen for.
ADHERENCE_LOW_PCT = 50
# The weekly mean of dozens of reps moves by a few degrees with how the strap sits; 10
# degrees is beyond that. Heel raises (3-8 degrees in all) can never show it.
ROM_DROP_DEG = 10
# Fewer reps than two sets of ten make a mean that one odd set can move.
ROM_MIN_REPS = 20
# A share of partial reps that reaches a fifth, up by 10 points or more: fatigue or pain
# rather than the odd short rep (a set's last rep is often partial).
PARTIAL_SHARE_PCT = 20
PARTIAL_RISE_PCT = 10
# Below three sets of ten a few reps swing the share by tens of points.
PARTIAL_MIN_REPS = 30
# The wearable itself warns the patient under 20 % (about one day left: session.py).
BATTERY_LOW_PCT = 20
# The gateway syncs every night: two missed nights can be a weekend away, a third means
# the gateway or the wearable needs a look, before the 5-day "no data" mark.
NOT_SYNCED_DAYS = 3
# The log holds 4,096 records (firmware/main.py): a quarter left is a week of a 3-exercise
# program; from 90 % it is a few days before records are refused (lost).
STORAGE_NEARLY_FULL_PCT = 75
STORAGE_FULL_PCT = 90
# Failures back off from 30 s, doubling (gateway/policy.py): five in a row span several
# minutes of retries, not one dropped connection.
SYNC_FAILURES = 5


class Severity(IntEnum):
    NOTE = 1  # worth a look when there is time
    WARN = 2  # a change for the worse, or a wearable that needs seeing to
    URGENT = 3  # data is not arriving, or about to be lost

    @property
    def label(self) -> str:
        """As the command-line tools print it: the urgent ones stand out."""
        return "URGENT" if self is Severity.URGENT else self.name.lower()


@dataclass(frozen=True)
class Reason:
    kind: str  # a short name: "no_data", "adherence_falling", "battery", ...
    severity: Severity
    score: float  # 1.0 at the threshold, more the further past it
    text: str
    device_id: str | None = None
    exercise: str | None = None


@dataclass(frozen=True)
class PatientData:
    """What the reasons are computed from, for one patient."""

    patient_id: str
    monitoring_start: date
    devices: Sequence[str]
    history: Sequence[Prescription]
    # Daily totals of the patient's devices, at least the last 2 x TREND_DAYS + 1 days.
    totals: Sequence[DailyTotal]
    # ROM per (exercise, day) of the trend windows; None: not read, no ROM reason.
    rom: rom.RomPerDay | None = None
    states: Mapping[str, DeviceState] = field(default_factory=dict)
    # The last day with data if the caller looked further back than `totals`; None: take it
    # from `totals`.
    last_day_with_data: date | None = None
    # The first day looked at for data; None: the whole history was.
    data_since: date | None = None


@dataclass(frozen=True)
class Assessment:
    patient_id: str
    monitoring_start: date
    last_day_with_data: date | None  # None: none known
    days_without_data: int | None  # as "no data" counts them; None before monitoring starts
    reasons: tuple[Reason, ...]  # most severe first, then by score

    @property
    def severity(self) -> Severity | None:
        return max((r.severity for r in self.reasons), default=None)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.reasons)

    @property
    def days_since_data(self) -> int | None:
        """Days from the last day with data to today; None: no data known."""
        if self.last_day_with_data is None or self.days_without_data is None:
            return None
        return self.days_without_data


def _day(d: date) -> str:
    return f"{d:%a} {d}"


def _pct(x: Fraction | float) -> str:
    return f"{float(x) * 100:.0f}%"


@dataclass(frozen=True)
class _Windows:
    recent: list[date]
    previous: list[date]
    trends: bool  # both windows inside the monitoring

    @classmethod
    def of(cls, today: date, start: date) -> _Windows:
        yesterday = today - timedelta(days=1)
        recent = list(days_between(yesterday - timedelta(days=TREND_DAYS - 1), yesterday))
        previous = [d - timedelta(days=TREND_DAYS) for d in recent]
        return cls(recent, previous, start <= previous[0])


def assess(p: PatientData, today: date, zone: ZoneInfo) -> Assessment:
    """The patient's reasons as of `today` (states' times are read as days in `zone`)."""
    totals = [t for t in p.totals if t.day <= today]
    last = max((t.day for t in totals), default=None)
    if p.last_day_with_data is not None and p.last_day_with_data <= today:
        last = max(last or p.last_day_with_data, p.last_day_with_data)
    if p.monitoring_start > today:
        return Assessment(p.patient_id, p.monitoring_start, last, None, ())
    if last is not None:
        without = (today - last).days
    elif p.data_since is not None and p.data_since > p.monitoring_start:
        without = (today - p.data_since).days + 1  # at least: none from data_since on
    else:
        without = (today - p.monitoring_start).days + 1
    w = _Windows.of(today, p.monitoring_start)
    reasons: list[Reason] = []
    no_data = _no_data(p, last, without)
    reasons += no_data
    reasons += _prescription(p.history, today)
    reasons += _adherence(p.history, totals, w, p.monitoring_start, bool(no_data))
    if w.trends:
        if p.rom is not None:
            reasons += _rom(p.rom, p.history, w)
        reasons += _partial(totals, w)
    reasons += _devices(p, totals, today, zone)
    reasons.sort(key=lambda r: (-r.severity, -r.score))
    return Assessment(p.patient_id, p.monitoring_start, last, without, tuple(reasons))


def _no_data(p: PatientData, last: date | None, without: int) -> list[Reason]:
    if without < NO_DATA_DAYS:
        return []
    if last is not None:
        text = f"no data for {without} days (last: {_day(last)})"
    elif p.data_since is not None and p.data_since > p.monitoring_start:
        text = f"no data for at least {without} days (none since {_day(p.data_since)})"
    else:
        text = (f"no data since monitoring started on {_day(p.monitoring_start)} "
                f"({without} days)")
    return [Reason("no_data", Severity.URGENT, without / NO_DATA_DAYS, text)]


def _prescription(history: Sequence[Prescription], today: date) -> list[Reason]:
    if not history:
        return [Reason("no_prescription", Severity.NOTE, 1.0, "no prescription yet")]
    current = in_force(history, today)
    if current is not None and not current.items:
        return [Reason("no_prescription", Severity.NOTE, 1.0,
                       f"prescription ended on {_day(current.start)} (no exercises since)")]
    return []


def _overall(history: Sequence[Prescription], totals: Sequence[DailyTotal],
             days: list[date]) -> Fraction | None:
    return adherence.overall(history, totals, days[0], days[-1])


def adherence_judged_from(monitoring_start: date) -> date:
    """The first day the adherence reasons can be given: the last TREND_DAYS full days are
    all inside the monitoring. Before it a patient without reasons is not yet judged on
    adherence, whatever they did (the worklist says so)."""
    return monitoring_start + timedelta(days=TREND_DAYS)


def _adherence(history: Sequence[Prescription], totals: Sequence[DailyTotal], w: _Windows,
               start: date, no_data: bool) -> list[Reason]:
    if not history or start > w.recent[0]:  # today < adherence_judged_from(start)
        return []
    now = _overall(history, totals, w.recent)
    if now is None:
        return []
    before = _overall(history, totals, w.previous) if w.trends else None
    if before is not None and (before - now) * 100 >= ADHERENCE_DROP_PCT:
        return [Reason("adherence_falling", Severity.WARN,
                       float(before - now) * 100 / ADHERENCE_DROP_PCT,
                       f"adherence fell from {_pct(before)} to {_pct(now)} (last "
                       f"{TREND_DAYS} days vs the {TREND_DAYS} before)")]
    if not no_data and now * 100 < ADHERENCE_LOW_PCT:
        return [Reason("adherence_low", Severity.NOTE,
                       1 + float(ADHERENCE_LOW_PCT - now * 100) / ADHERENCE_LOW_PCT,
                       f"adherence {_pct(now)} over the last {TREND_DAYS} days (under "
                       f"{ADHERENCE_LOW_PCT}%)")]
    return []


def _exercises(names: Iterable[str]) -> list[str]:
    return sorted({x for x in names if x != GENERIC})


def _rom(per_day: rom.RomPerDay, history: Sequence[Prescription], w: _Windows
         ) -> list[Reason]:
    out = []
    current = in_force(history, w.recent[-1])
    for x in _exercises(name for name, _ in per_day):
        now = rom.over(per_day, x, w.recent)
        before = rom.over(per_day, x, w.previous)
        if now.reps < ROM_MIN_REPS or before.reps < ROM_MIN_REPS:
            continue
        assert now.mean_deg is not None and before.mean_deg is not None
        drop = before.mean_deg - now.mean_deg
        if drop < ROM_DROP_DEG:
            continue
        item = current.item(x) if current is not None else None
        target = f"; target {item.rom[0]}-{item.rom[1]}°" if item and item.rom else ""
        out.append(Reason("rom_worse", Severity.WARN, drop / ROM_DROP_DEG,
                          f"mean ROM of {x} down {drop:.0f}° ({now.mean_deg:.0f}° vs "
                          f"{before.mean_deg:.0f}°, last {TREND_DAYS} vs previous "
                          f"{TREND_DAYS} days{target})", exercise=x))
    return out


def _partial(totals: Sequence[DailyTotal], w: _Windows) -> list[Reason]:
    counts: dict[tuple[str, bool], list[int]] = {}
    recent, previous = set(w.recent), set(w.previous)
    for t in totals:
        if t.day in recent or t.day in previous:
            acc = counts.setdefault((t.exercise, t.day in recent), [0, 0])
            acc[0] += t.reps
            acc[1] += t.partial_reps
    out = []
    for x in sorted({x for x, _ in counts}):
        full_now, partial_now = counts.get((x, True), (0, 0))
        full_before, partial_before = counts.get((x, False), (0, 0))
        n_now, n_before = full_now + partial_now, full_before + partial_before
        if n_now < PARTIAL_MIN_REPS or n_before < PARTIAL_MIN_REPS:
            continue
        now = Fraction(partial_now, n_now)
        before = Fraction(partial_before, n_before)
        rise = (now - before) * 100
        if now * 100 < PARTIAL_SHARE_PCT or rise < PARTIAL_RISE_PCT:
            continue
        name = "" if x == GENERIC else f" of {x}"
        out.append(Reason("partial_rising", Severity.WARN, float(rise) / PARTIAL_RISE_PCT,
                          f"partial reps{name} rising: {_pct(now)} of reps vs {_pct(before)} "
                          f"(last {TREND_DAYS} vs previous {TREND_DAYS} days)", exercise=x))
    return out


def _devices(p: PatientData, totals: Sequence[DailyTotal], today: date,
             zone: ZoneInfo) -> list[Reason]:
    recent = today - timedelta(days=2 * TREND_DAYS)
    active = {t.device_id for t in totals if t.day >= recent}
    out = []
    for device in p.devices:
        state = p.states.get(device)
        if state is None or (len(p.devices) > 1 and active and device not in active):
            continue
        prefix = f"wearable {device}: " if len(p.devices) > 1 else ""
        for kind, severity, score, text in _device_problems(state, p.monitoring_start,
                                                            today, zone):
            out.append(Reason(kind, severity, score, prefix + text, device_id=device))
    return out


def _device_problems(s: DeviceState, start: date, today: date, zone: ZoneInfo
                     ) -> list[tuple[str, Severity, float, str]]:
    out: list[tuple[str, Severity, float, str]] = []
    if s.last_sync_ms is None:
        if (today - start).days >= NOT_SYNCED_DAYS:
            out.append(("not_synced", Severity.WARN, 1.0, "never synced"))
    else:
        last = local_day(s.last_sync_ms, zone)
        days = (today - last).days
        if days >= NOT_SYNCED_DAYS:
            out.append(("not_synced", Severity.WARN, days / NOT_SYNCED_DAYS,
                        f"not synced for {days} days (last: {_day(last)})"))
    if s.consecutive_failures >= SYNC_FAILURES:
        out.append(("sync_failures", Severity.WARN, s.consecutive_failures / SYNC_FAILURES,
                    f"{s.consecutive_failures} sync failures in a row"))
    if s.battery_pct is not None and s.battery_pct <= BATTERY_LOW_PCT:
        out.append(("battery", Severity.WARN,
                    1 + (BATTERY_LOW_PCT - s.battery_pct) / BATTERY_LOW_PCT,
                    f"battery {s.battery_pct}% at the last sync"))
    if s.log_used_pct is not None and s.log_used_pct >= STORAGE_NEARLY_FULL_PCT:
        refused = f" ({s.refused} records refused so far)" if s.refused else ""
        out.append(("storage", Severity.URGENT if s.log_used_pct >= STORAGE_FULL_PCT
                    else Severity.WARN, s.log_used_pct / STORAGE_NEARLY_FULL_PCT,
                    f"record storage {s.log_used_pct}% full{refused}"))
    return out


def states_recent_ms(today: date, zone: ZoneInfo) -> int:
    """Where a store may look first for the wearables' latest states (Store.device_states'
    `recent_ms`): gateways report every night, so all but the few that stopped (not synced
    for NOT_SYNCED_DAYS: a reason of their own) have reported since then."""
    return day_start_ms(today - timedelta(days=NOT_SYNCED_DAYS), zone)


def rank(assessments: Iterable[Assessment]) -> list[Assessment]:
    """Most urgent first (the module's docstring says how)."""

    def key(a: Assessment) -> tuple:
        if a.reasons:
            return (0, -(a.severity or 0), -a.score, -(a.days_without_data or 0),
                    a.patient_id)
        if a.days_without_data is None:  # monitoring not started
            return (2, 0, 0.0, 0, a.patient_id)
        return (1, 0, 0.0, -a.days_without_data, a.patient_id)

    return sorted(assessments, key=key)


def summary(a: Assessment) -> str:
    """The reasons as one line, most urgent first ("fine" without any)."""
    return "; ".join(r.text for r in a.reasons) or "fine"
