"""The worklist page: every enrolled patient with the reasons to look at them, most urgent
first, and the running 30-day period.

The reasons and the order are the command line's (`rtm-clinic worklist`): clinic/worklist.py
gathers them with one read of each kind for all patients, attention.py decides; `rank` is
the one function that orders the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from cloud_bridge.clinic import attention, billing
from cloud_bridge.clinic import worklist as clinic_worklist
from cloud_bridge.clinic.attention import Assessment
from cloud_bridge.clinic.prescriptions import Prescription
from cloud_bridge.clinic.registry import Registry
from cloud_bridge.stores.base import Store


@dataclass(frozen=True)
class WorklistRow:
    patient_id: str
    monitoring_start: date
    last_day_with_data: date | None  # None: never any
    days_since_data: int | None  # days from the last day with data to today; None: none
    period: billing.SupplyPeriod | None  # the running 30-day period; None before the start
    assessment: Assessment

    @property
    def adherence_judged_from(self) -> date:
        """Before this day, "fine" says nothing about adherence (attention.py)."""
        return attention.adherence_judged_from(self.monitoring_start)

    @property
    def last_data_text(self) -> str:
        if self.last_day_with_data is not None:
            return self.last_day_with_data.isoformat()
        return "never"


def rows(store: Store, registry: Registry, histories: Mapping[str, Sequence[Prescription]],
         today: date) -> list[WorklistRow]:
    """One row per patient, in registry order."""
    w = clinic_worklist.build(store, registry, histories, today)
    by_patient = {a.patient_id: a for a in w.assessments}
    out = []
    for p in registry.patients():
        a = by_patient[p]
        start = registry.monitoring_start(p)
        running = billing.period_index(start, today)
        period = (None if running is None
                  else billing.supply_period(start, running, w.days_with_data[p], today))
        out.append(WorklistRow(p, start, a.last_day_with_data, a.days_since_data, period, a))
    return out


def rank(rows: list[WorklistRow]) -> list[WorklistRow]:
    """The worklist's order: attention.rank's (reasons by severity and score first, then
    the longest without data, those not started last)."""
    by_id = {r.patient_id: r for r in rows}
    return [by_id[a.patient_id] for a in attention.rank(r.assessment for r in rows)]
