"""The worklist: every enrolled patient, with what tells whom to look at first.

The order comes from one function, `rank`. It is a placeholder for now (longest without
data first); the worklist's real ranking replaces that function and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cloud_bridge.clinic import billing, billing_report
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.stores.base import Store


@dataclass(frozen=True)
class WorklistRow:
    patient_id: str
    monitoring_start: date
    last_day_with_data: date | None  # None: no data yet
    days_since_data: int | None  # days from the last day with data to today; None: never
    period: billing.SupplyPeriod | None  # the running 30-day period; None before the start


def rows(store: Store, registry: Registry, today: date) -> list[WorklistRow]:
    """One row per patient, in registry order: one store call for all of them."""
    patients = registry.patients()
    data = billing_report.days_with_data(store, registry, patients, today)
    out = []
    for p in patients:
        start = registry.monitoring_start(p)
        last = max(data[p], default=None)
        running = billing.period_index(start, today)
        period = (None if running is None
                  else billing.supply_period(start, running, data[p], today))
        out.append(WorklistRow(p, start, last, None if last is None else (today - last).days,
                               period))
    return out


def rank(rows: list[WorklistRow]) -> list[WorklistRow]:
    """The worklist's order. PLACEHOLDER: patients without any data first, then the longest
    since their last day with data, then by id."""

    def key(r: WorklistRow) -> tuple[int, int, str]:
        if r.days_since_data is None:
            return (0, 0, r.patient_id)
        return (1, -r.days_since_data, r.patient_id)

    return sorted(rows, key=key)
