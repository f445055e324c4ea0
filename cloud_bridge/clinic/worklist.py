"""The worklist (`rtm-clinic worklist`, and the dashboard's worklist page): every enrolled
patient with the reasons to look at them (attention.py), most urgent first.

It reads for all patients together, a fixed number of calls however many patients there
are, and only days, never records: one Store.daily_totals over attention's trend windows
and today (ROM included), one Store.days_with_data over the rest of the last WINDOW_DAYS
(the running 30-day period needs no more than that), one Store.last_days for the patients
without data in those days (their last day with data however long ago), one
Store.device_states, and two queries of clinic.db for every prescription history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from cloud_bridge.clinic import attention, billing, rom
from cloud_bridge.clinic.attention import Assessment, PatientData
from cloud_bridge.clinic.prescriptions import Prescription
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.daily import DailyTotal
from cloud_bridge.stores.base import Store

# Days read, today included: the running 30-day period (its days with data, on the
# dashboard) and attention's two trend windows before today, whichever reach further.
WINDOW_DAYS = max(billing.PERIOD_DAYS, 2 * attention.TREND_DAYS + 1)


@dataclass(frozen=True)
class Worklist:
    today: date
    zone: str
    first_day: date  # the first day of the totals read
    assessments: list[Assessment]  # ranked: attention.rank
    days_with_data: dict[str, set[date]]  # per patient, first_day..today

    @property
    def needing_attention(self) -> list[Assessment]:
        return [a for a in self.assessments if a.reasons]


def gather(store: Store, registry: Registry, histories: Mapping[str, Sequence[Prescription]],
           today: date) -> tuple[list[PatientData], date, dict[str, set[date]]]:
    """What attention.assess needs for every enrolled patient, the first day of the totals
    read, and each patient's days with data from then to today. Days are in the store's
    zone."""
    patients = registry.patients()
    owner = {d: p for p in patients for d in registry.devices_of(p)}
    first = today - timedelta(days=WINDOW_DAYS - 1)
    trends_first = today - timedelta(days=2 * attention.TREND_DAYS)
    totals: dict[str, list[DailyTotal]] = defaultdict(list)
    with_data: dict[str, set[date]] = {p: set() for p in patients}
    last: dict[str, date] = {}
    states = {}
    if owner:
        devices = sorted(owner)
        for t in store.daily_totals(devices, trends_first, today):
            totals[owner[t.device_id]].append(t)
            with_data[owner[t.device_id]].add(t.day)
        # The older days of the window: only whether there was data, a cheaper read.
        for device, days in store.days_with_data(
                devices, first, trends_first - timedelta(days=1)).items():
            with_data[owner[device]] |= days
        silent = [d for d in devices if not with_data[owner[d]]]
        if silent:
            for device, day in store.last_days(silent, first - timedelta(days=1)).items():
                patient = owner[device]
                last[patient] = max(last.get(patient, day), day)
        states = store.device_states(devices,
                                     recent_ms=attention.states_recent_ms(today, store.zone))
    out = []
    for p in patients:
        devices_p = registry.devices_of(p)
        out.append(PatientData(
            p, registry.monitoring_start(p), devices_p, histories.get(p, []), totals[p],
            rom=rom.rom_per_day(totals[p]),
            states={d: states[d] for d in devices_p if d in states},
            # attention gets the last day with data, which may be older than its totals
            last_day_with_data=max(with_data[p], default=None) or last.get(p)))
    return out, first, with_data


def build(store: Store, registry: Registry, histories: Mapping[str, Sequence[Prescription]],
          today: date) -> Worklist:
    data, first, with_data = gather(store, registry, histories, today)
    ranked = attention.rank(attention.assess(p, today, store.zone) for p in data)
    return Worklist(today, store.zone.key, first, ranked, with_data)


def _quiet(a: Assessment, today: date) -> str:
    """What the line of a patient without reasons says."""
    if a.days_without_data is None:
        return f"monitoring starts on {a.monitoring_start}"
    if a.last_day_with_data is None:
        return f"no data yet (monitoring since {a.monitoring_start})"
    ago = (today - a.last_day_with_data).days
    when = {0: "today", 1: "yesterday"}.get(ago, f"{ago} days ago")
    text = f"last data {a.last_day_with_data:%a} {a.last_day_with_data} ({when})"
    judged = attention.adherence_judged_from(a.monitoring_start)
    if today < judged:
        text += f"; adherence judged from {judged:%a} {judged}"
    return text


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
