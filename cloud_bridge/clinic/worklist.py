"""The worklist (`rtm-clinic worklist`, and the dashboard's worklist page): every enrolled
patient with the reasons to look at them (attention.py), most urgent first.

It reads for all patients together, a fixed number of calls however many patients there
are: one Store.daily_totals over the lookback (the last day with data, the trend windows,
the running 30-day period), one Store.set_summaries over the two trend windows, only for
the wearables whose daily totals have enough reps for a ROM trend, one
Store.device_states, and two queries of clinic.db for every prescription history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from cloud_bridge.clinic import attention, rom
from cloud_bridge.clinic.attention import Assessment, PatientData
from cloud_bridge.clinic.prescriptions import GENERIC, Prescription
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.daily import DailyTotal, day_start_ms
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import Store

# The last day with data is looked for this far back: beyond it the worklist says "at least
# 90 days", which asks for the same call. A year would cost four times the daily rows.
LOOKBACK_DAYS = 90


@dataclass(frozen=True)
class Worklist:
    today: date
    zone: str
    first_day: date  # the first day looked at for data
    assessments: list[Assessment]  # ranked: attention.rank
    days_with_data: dict[str, set[date]]  # per patient, first_day..today

    @property
    def needing_attention(self) -> list[Assessment]:
        return [a for a in self.assessments if a.reasons]


def _has_rom_trend(start: date, totals: Sequence[DailyTotal], today: date) -> bool:
    """Whether a ROM trend can come out: monitored over both windows, with at least
    ROM_MIN_REPS full reps of one exercise in each (as the daily totals count them)."""
    recent_first = today - timedelta(days=attention.TREND_DAYS)
    previous_first = recent_first - timedelta(days=attention.TREND_DAYS)
    if start > previous_first:
        return False
    reps: dict[tuple[str, bool], int] = defaultdict(int)
    for t in totals:
        if previous_first <= t.day < today and t.exercise != GENERIC:
            reps[(t.exercise, t.day >= recent_first)] += t.reps
    return any(reps[(x, True)] >= attention.ROM_MIN_REPS
               and reps[(x, False)] >= attention.ROM_MIN_REPS for x, _ in list(reps))


def _rom(store: Store, owner: Mapping[str, str], devices: list[str], today: date
         ) -> dict[str, dict[tuple[str, date], rom.RomSum]]:
    """ROM per patient, exercise and day over the two trend windows, from one read."""
    per_patient: dict[str, dict[tuple[str, date], rom.RomSum]] = defaultdict(dict)
    if not devices:
        return per_patient
    first = today - timedelta(days=2 * attention.TREND_DAYS)
    by_patient: dict[str, list[StoredRecord]] = defaultdict(list)
    for r in store.set_summaries(devices, day_start_ms(first, store.zone),
                                 day_start_ms(today, store.zone)):
        by_patient[owner[r.device_id]].append(r)
    for patient, records in by_patient.items():
        per_patient[patient] = rom.rom_per_day(records, store.zone)
    return per_patient


def gather(store: Store, registry: Registry, histories: Mapping[str, Sequence[Prescription]],
           today: date, lookback_days: int = LOOKBACK_DAYS) -> tuple[list[PatientData], date]:
    """What attention.assess needs for every enrolled patient, and the first day looked at
    for data. Days are in the store's zone."""
    patients = registry.patients()
    owner = {d: p for p in patients for d in registry.devices_of(p)}
    devices = {p: registry.devices_of(p) for p in patients}
    starts = {p: registry.monitoring_start(p) for p in patients}
    first = max(min(starts.values(), default=today), today - timedelta(days=lookback_days))
    first = min(first, today)
    totals: dict[str, list[DailyTotal]] = defaultdict(list)
    if owner:
        for t in store.daily_totals(sorted(owner), first, today):
            totals[owner[t.device_id]].append(t)
    rom_per_patient = _rom(store, owner, [d for p in patients
                                          if _has_rom_trend(starts[p], totals[p], today)
                                          for d in devices[p]], today)
    states = store.device_states(sorted(owner)) if owner else {}
    return [PatientData(p, starts[p], devices[p], histories.get(p, []), totals[p],
                        rom=rom_per_patient.get(p, {}),
                        states={d: states[d] for d in devices[p] if d in states},
                        data_since=first) for p in patients], first


def build(store: Store, registry: Registry, histories: Mapping[str, Sequence[Prescription]],
          today: date, lookback_days: int = LOOKBACK_DAYS) -> Worklist:
    data, first = gather(store, registry, histories, today, lookback_days)
    ranked = attention.rank(attention.assess(p, today, store.zone) for p in data)
    with_data = {p.patient_id: {t.day for t in p.totals if t.day <= today} for p in data}
    return Worklist(today, store.zone.key, first, ranked, with_data)


def _quiet(a: Assessment, today: date) -> str:
    """What the line of a patient without reasons says."""
    if a.days_without_data is None:
        return f"monitoring starts on {a.monitoring_start}"
    if a.last_day_with_data is None:
        return f"no data yet (monitoring since {a.monitoring_start})"
    ago = (today - a.last_day_with_data).days
    when = {0: "today", 1: "yesterday"}.get(ago, f"{ago} days ago")
    return f"last data {a.last_day_with_data:%a} {a.last_day_with_data} ({when})"


def format_text(w: Worklist, show_all: bool = False) -> str:
    """One line per patient, most urgent first; those without reasons only with
    `show_all`, else counted."""
    urgent = w.needing_attention
    rest = [a for a in w.assessments if not a.reasons]
    width = max((len(a.patient_id) for a in w.assessments), default=0)
    body = []
    for a in urgent:
        assert a.severity is not None
        body.append(f"{a.patient_id:<{width}}  {a.severity.label:<6}  "
                    f"{attention.summary(a)}")
    if show_all:
        for a in rest:
            state = "fine" if a.days_without_data is not None else "-"
            body.append(f"{a.patient_id:<{width}}  {state:<6}  {_quiet(a, w.today)}")
    lines = [f"Worklist as of {w.today:%a} {w.today} (days in {w.zone}): "
             f"{len(urgent)} of {len(w.assessments)} patients need attention"]
    if body:
        lines += ["", *body]
    if rest and not show_all:
        lines += ["", f"{len(rest)} patient{'' if len(rest) == 1 else 's'} without reasons "
                      "(--all lists them)"]
    if not w.assessments:
        lines += ["", "No patients are enrolled."]
    return "\n".join(lines)
