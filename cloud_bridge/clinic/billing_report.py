"""The billing readiness report (`rtm-clinic billing`): for one calendar month, per patient,
the episode's setup code, the 30-day device supply periods billed in the month (those that
end in it, and the one running today) and the month's treatment management, each with its
codes, status, reason and amount.

Gathers what billing.py's rules need (days with data from the store's daily totals, minutes
and communications from time_log, all as local days in the clinic's zone) and prices the
codes from the fee table. Each code is final in one month's report only (billing.py says
which month), so the final amounts of all monthly reports add up to what can be billed.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import billing, time_log
from cloud_bridge.clinic.billing import Month, Status
from cloud_bridge.clinic.fees import FeeTable
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.stores.base import Store

SETUP_ITEM = "setup and education"
SUPPLY_ITEM = "device supply"
TREATMENT_ITEM = "treatment management"
CSV_COLUMNS = ("patient_id", "item", "first_day", "last_day", "code", "units", "status",
               "amount", "currency", "reason")


@dataclass(frozen=True)
class Line:
    patient_id: str
    item: str
    first: date | None  # None: no date yet (98975 before its second day with data)
    last: date | None
    code: str  # "" when the item has no code
    units: int
    status: Status
    amount: Decimal | None  # fee x units; None without a code
    currency: str
    reason: str


@dataclass(frozen=True)
class PatientBilling:
    patient_id: str
    monitoring_start: date
    lines: list[Line]


def days_with_data(store: Store, registry: Registry, patients: Sequence[str],
                   today: date) -> dict[str, set[date]]:
    """Per patient, the local days up to `today` with a dated record of any of the patient's
    devices: one daily_totals call for all of them."""
    out: dict[str, set[date]] = {p: set() for p in patients}
    starts = [registry.monitoring_start(p) for p in patients]
    if not patients or min(starts) > today:
        return out
    owner = {d: p for p in patients for d in registry.devices_of(p)}
    for t in store.daily_totals(sorted(owner), min(starts), today):
        out[owner[t.device_id]].add(t.day)
    return out


def _line(patient: str, item: str, first: date | None, last: date | None, code: str | None,
          units: int, status: Status, reason: str, fees: FeeTable) -> Line:
    if not code:
        return Line(patient, item, first, last, "", 0, status, None, "", reason)
    fee = fees.fee(code)
    return Line(patient, item, first, last, code, units, status, fee.amount * units,
                fee.currency, reason)


def patient_billing(patient: str, start: date, days: set[date],
                    month_log: tuple[list[time_log.TimeEntry], list[time_log.Communication]],
                    month: Month, today: date, fees: FeeTable) -> PatientBilling:
    lines = []
    s = billing.month_setup(start, month, days, today)
    lines.append(_line(patient, SETUP_ITEM, s.billable_on, s.billable_on, s.code, 1, s.status,
                       s.reason, fees))
    for p in billing.month_periods(start, month, days, today):
        lines.append(_line(patient, SUPPLY_ITEM, p.first, p.last, p.code, 1, p.status,
                           p.reason, fees))
    entries, comms = month_log
    tm = billing.treatment_month(month, [(e.day, e.minutes) for e in entries],
                                 [c.day for c in comms], today)
    units = Counter(tm.codes)  # keeps the order: 98980 before 98981
    for code, n in units.items() or [("", 0)]:
        lines.append(_line(patient, TREATMENT_ITEM, month.first, month.last, code, n,
                           tm.status, tm.reason, fees))
    return PatientBilling(patient, start, lines)


def build(store: Store, registry: Registry, conn: sqlite3.Connection, patients: Sequence[str],
          month: Month, today: date, zone: ZoneInfo, fees: FeeTable) -> list[PatientBilling]:
    """The report for `patients` (registry ids) and `month`, as of `today` in `zone`, the
    store's zone. Raises FeeError for a code the fee table lacks."""
    if zone.key != store.zone.key:
        raise ValueError(f"billing for days in {zone.key}, but the store was opened for "
                         f"{store.zone.key}: open it with zone={zone.key!r}")
    if today < month.first:
        raise ValueError(f"month {month} is after today ({today})")
    data = days_with_data(store, registry, patients, today)
    return [patient_billing(p, registry.monitoring_start(p), data[p],
                            time_log.month_log(conn, p, month.year, month.month, zone),
                            month, today, fees)
            for p in patients]


def _dates(line: Line) -> str:
    if line.first is None or line.last is None:
        return "-"
    if line.item == TREATMENT_ITEM:
        return str(Month.of(line.first))
    return str(line.first) if line.first == line.last else f"{line.first}..{line.last}"


def _code(line: Line) -> str:
    if not line.code:
        return "-"
    return line.code if line.units == 1 else f"{line.code} x{line.units}"


def _amount(line: Line) -> str:
    return "-" if line.amount is None else f"{line.amount:.2f} {line.currency}"


def format_table(reports: Sequence[PatientBilling], month: Month, today: date, zone: ZoneInfo,
                 fees: FeeTable) -> str:
    out = [f"RTM billing readiness for {month}, as of {today} (days in {zone.key})"]
    if fees.is_example:
        out.append(f"Amounts are EXAMPLES from the shipped table {fees.path}: give your "
                   "own fee table with --fees PATH")
    else:
        out.append(f"Amounts from {fees.path}")
    out.append("Only 'final' codes can be billed. A 30-day period is final in the month it "
               "ends, 98975 (once per episode) in the month of the second day with data.")
    header = ("item", "dates", "code", "status", "amount", "why")
    for r in reports:
        out.append("")
        out.append(f"{r.patient_id} (monitoring since {r.monitoring_start})")
        rows = [header]
        previous: tuple[str, date | None] | None = None
        for line in r.lines:
            # Several codes of one item (98980 + 98981) share its dates and reason.
            same = previous == (line.item, line.first)
            previous = (line.item, line.first)
            rows.append(("" if same else line.item, "" if same else _dates(line), _code(line),
                         line.status.value, _amount(line), "" if same else line.reason))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
            out.append(("  " + "  ".join([*cells, row[-1]])).rstrip())
    return "\n".join(out)


def format_csv(reports: Sequence[PatientBilling]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in reports:
        for line in r.lines:
            w.writerow((line.patient_id, line.item, line.first or "", line.last or "",
                        line.code, line.units, line.status.value,
                        "" if line.amount is None else f"{line.amount:.2f}", line.currency,
                        line.reason))
    return buf.getvalue()
