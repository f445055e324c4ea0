"""The monthly RTM report (`rtm-clinic report`): one patient's calendar month as the
clinic's documentation of it. What the month holds, gathered from where it is kept:

* the patient's wearables (registry) and their firmware when the store's device states
  know it;
* the local days with data in the month, with the wearables that sent data on each, and
  the days with data of every 30-day period overlapping the month;
* the logged treatment-management time and interactive communications (time_log);
* the prescription version(s) in force during the month (prescriptions), with their items;
* the month's billing lines (billing_report, priced from the fee table).

Nothing here applies a billing rule: days with data come from billing_report, the codes and
their status and reason from billing_report.patient_billing, the period counts from
billing.supply_period. So a report and `rtm-clinic billing` for the same month and day
never disagree.

"As of": like the billing report, a report as of `today` counts only what is dated up to
that day. A month that is still running is reported up to today (its billing lines are
"in progress"); days of the month after today are in no list. Days are local days in the
clinic's zone, the store's zone.

Output: monthly_report_csv.py and monthly_report_html.py.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import billing, billing_report, time_log
from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic.billing import Month, Status
from cloud_bridge.clinic.fees import FeeTable
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.stores.base import Store


@dataclass(frozen=True)
class Device:
    device_id: str  # the wearable's serial, as in the registry
    enrolled_from: date  # its monitoring_start in the registry
    firmware: str | None  # from the store's latest device state; None: not known


@dataclass(frozen=True)
class DataDay:
    day: date
    devices: tuple[str, ...]  # the wearables with data that day, sorted


@dataclass(frozen=True)
class PeriodDays:
    """A 30-day period that overlaps the month (and has started by the report's day)."""

    index: int  # 0 for the episode's first period, as in billing.py
    first: date
    last: date
    days_with_data: int  # in the whole period, up to the report's day
    in_month: int  # of those, the ones in the month

    @property
    def number(self) -> int:
        """1 for the first period: how people count them."""
        return self.index + 1


@dataclass(frozen=True)
class ProgramInForce:
    prescription: rx.Prescription
    first: date  # first day of the month (up to the report's day) it was in force on
    last: date  # last such day


@dataclass(frozen=True)
class MonthlyReport:
    patient_id: str
    month: Month
    today: date  # the report is as of this day
    zone: ZoneInfo
    monitoring_start: date
    devices: list[Device]
    data_days: list[DataDay]
    periods: list[PeriodDays]
    time_entries: list[time_log.TimeEntry]
    communications: list[time_log.Communication]
    programs: list[ProgramInForce]
    billing: billing_report.PatientBilling
    fees_path: Path
    fees_are_examples: bool

    @property
    def running(self) -> bool:
        """True until the month is over (as billing.py has it): its numbers can still grow,
        and its treatment management is "in progress"."""
        return self.today <= self.month.last

    @property
    def total_minutes(self) -> int:
        return sum(e.minutes for e in self.time_entries)

    @property
    def final_totals(self) -> dict[str, Decimal]:
        """Per currency, the sum of the billing lines that are final: what can be billed."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for line in self.billing.lines:
            if line.status is Status.FINAL and line.amount is not None:
                totals[line.currency] += line.amount
        return dict(sorted(totals.items()))


def local_time(at_ms: int, zone: ZoneInfo) -> str:
    """HH:MM of an instant in the clinic's zone."""
    return datetime.fromtimestamp(at_ms / 1000, zone).strftime("%H:%M")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def programs_in_force(history: Sequence[rx.Prescription], first: date,
                      last: date) -> list[ProgramInForce]:
    """The versions in force on days first..last, in the order they were in force. Day by
    day with prescriptions.in_force, so that superseding works exactly as everywhere
    else (a version never in force in the month is not listed)."""
    spans: dict[int, ProgramInForce] = {}
    for day in _days(first, last):
        p = rx.in_force(history, day)
        if p is None:
            continue
        seen = spans.get(p.version)
        spans[p.version] = ProgramInForce(p, seen.first if seen else day, day)
    return sorted(spans.values(), key=lambda s: s.first)


def period_days(start: date, month: Month, days: set[date], today: date) -> list[PeriodDays]:
    """Every period overlapping the month that has started by `today`, with its days with
    data (counted by billing.supply_period, as the billing report counts them)."""
    lo = billing.period_index(start, max(month.first, start))
    hi = billing.period_index(start, min(month.last, today))
    if lo is None or hi is None:
        return []
    out = []
    for k in range(lo, hi + 1):
        p = billing.supply_period(start, k, days, today)
        in_month = sum(1 for d in days if max(p.first, month.first) <= d
                       <= min(p.last, month.last, today))
        out.append(PeriodDays(k, p.first, p.last, p.days_with_data, in_month))
    return out


def _devices_per_day(store: Store, devices: Sequence[str], first: date,
                     last: date) -> dict[date, set[str]]:
    out: dict[date, set[str]] = defaultdict(set)
    if devices and first <= last:
        for t in store.daily_totals(sorted(devices), first, last):
            out[t.day].add(t.device_id)
    return out


def build(store: Store, registry: Registry, conn: sqlite3.Connection, patients: Sequence[str],
          month: Month, today: date, zone: ZoneInfo, fees: FeeTable) -> list[MonthlyReport]:
    """The reports of `patients` (registry ids) for `month`, as of `today` in `zone`, the
    store's zone. Three store calls whatever the number of patients. Raises ValueError for
    an unknown patient or a month after today, FeeError for a code the fee table lacks."""
    if zone.key != store.zone.key:
        raise ValueError(f"report for days in {zone.key}, but the store was opened for "
                         f"{store.zone.key}: open it with zone={zone.key!r}")
    if today < month.first:
        raise ValueError(f"month {month} is after today ({today})")
    known = set(registry.patients())
    for p in patients:
        if p not in known:
            raise ValueError(f"patient {p!r} is not in the enrollment registry")
    end = min(month.last, today)
    all_devices = sorted({d for p in patients for d in registry.devices_of(p)})
    # What billing counts as a day with data; the per-device split only annotates it.
    data = billing_report.days_with_data(store, registry, patients, today)
    per_day = _devices_per_day(store, all_devices, month.first, end)
    states = store.device_states(all_devices) if all_devices else {}
    book = rx.Prescriptions(conn)
    reports = []
    for p in patients:
        start = registry.monitoring_start(p)
        days = data[p]
        mine = set(registry.devices_of(p))
        devices = [Device(d, min(e.monitoring_start for e in registry.enrollments
                                 if e.device_id == d),
                          states[d].firmware if d in states else None)
                   for d in sorted(mine)]
        data_days = [DataDay(d, tuple(sorted(per_day.get(d, set()) & mine)))
                     for d in sorted(days) if month.first <= d <= end]
        entries, comms = time_log.month_log(conn, p, month.year, month.month, zone)
        # As of today, like billing.treatment_month: so the totals match its reason.
        entries = [e for e in entries if e.day <= today]
        comms = [c for c in comms if c.day <= today]
        lines = billing_report.patient_billing(p, start, days, (entries, comms), month,
                                               today, fees)
        reports.append(MonthlyReport(
            p, month, today, zone, start, devices, data_days,
            period_days(start, month, days, today), entries, comms,
            programs_in_force(book.history(p), month.first, end), lines, fees.path,
            fees.is_example))
    return reports
