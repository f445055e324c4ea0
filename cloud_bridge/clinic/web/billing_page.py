"""What the billing page shows: billing_report's lines for every patient for a month,
and the sum of what can be billed (the final codes) per currency."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import billing_report
from cloud_bridge.clinic.billing import Month, Status
from cloud_bridge.clinic.fees import FeeTable
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.stores.base import Store


@dataclass(frozen=True)
class BillingPage:
    month: Month
    today: date
    reports: list[billing_report.PatientBilling]
    final_totals: dict[str, Decimal]  # currency -> sum of the final lines' amounts
    fees: FeeTable
    previous: Month
    next: Month | None  # None: it has not started yet


def line_dates(line: billing_report.Line) -> str:
    """A line's dates as the text report shows them: the month for treatment management,
    one day, or first..last."""
    if line.first is None or line.last is None:
        return "-"
    if line.item == billing_report.TREATMENT_ITEM:
        return str(Month.of(line.first))
    return str(line.first) if line.first == line.last else f"{line.first} to {line.last}"


def final_totals(reports: list[billing_report.PatientBilling]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in reports:
        for line in r.lines:
            if line.status is Status.FINAL and line.amount is not None:
                totals[line.currency] += line.amount
    return dict(sorted(totals.items()))


def build(store: Store, registry: Registry, conn: sqlite3.Connection, month: Month,
          today: date, zone: ZoneInfo, fees: FeeTable) -> BillingPage:
    reports = billing_report.build(store, registry, conn, registry.patients(), month, today,
                                   zone, fees)
    after = Month.of(month.last + timedelta(days=1))
    return BillingPage(month, today, reports, final_totals(reports), fees,
                       Month.of(month.first - timedelta(days=1)),
                       after if after.first <= today else None)
