"""monthly_report.build: what one patient-month holds, against a real SQLite store and
clinic.db (tests/cloud_bridge/clinic/monthly_report_data.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cloud_bridge.clinic import billing_report, time_log
from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.billing import Month, Status
from cloud_bridge.clinic.monthly_report import (
    MonthlyReport,
    period_days,
    programs_in_force,
)
from cloud_bridge.clinic.prescriptions import Item, Prescription
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.clinic.monthly_report_data import (
    DEV_A,
    DEV_B,
    DEV_C,
    MARCH,
    SCRIPT_NOTE,
    START,
    TODAY,
    TZ,
    V1,
    V2,
    make_clinic,
    reports,
)

pytestmark = pytest.mark.rtm


@pytest.fixture(scope="module")
def march(tmp_path_factory: pytest.TempPathFactory) -> MonthlyReport:
    tmp = tmp_path_factory.mktemp("clinic")
    make_clinic(tmp)
    [r] = reports(tmp, ["P-1"])
    return r


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    make_clinic(tmp_path)
    return tmp_path


def test_head_and_wearables(march: MonthlyReport) -> None:
    assert (march.patient_id, march.month, march.today, march.monitoring_start) == (
        "P-1", MARCH, TODAY, START)
    assert not march.running
    assert [(d.device_id, d.enrolled_from, d.firmware) for d in march.devices] == [
        (DEV_A, START, None), (DEV_B, date(2026, 3, 5), "1.4.2")]


def test_days_with_data_in_local_days_with_the_wearables_of_each(march: MonthlyReport
                                                                 ) -> None:
    days = {d.day: d.devices for d in march.data_days}
    assert len(days) == 17
    assert min(days) == date(2026, 3, 1) and max(days) == date(2026, 3, 31)  # 23:30 local
    assert days[date(2026, 3, 5)] == (DEV_A, DEV_B)
    assert days[date(2026, 3, 10)] == (DEV_B,)
    assert date(2026, 3, 7) not in days and date(2026, 3, 11) not in days


def test_days_with_data_of_both_periods_overlapping_the_month(march: MonthlyReport) -> None:
    assert [(p.number, p.first, p.last, p.days_with_data, p.in_month)
            for p in march.periods] == [
        (1, date(2026, 2, 10), date(2026, 3, 11), 16, 7),
        (2, date(2026, 3, 12), date(2026, 4, 10), 11, 10),
    ]


def test_time_and_communications_on_the_months_first_and_last_local_day(
        march: MonthlyReport) -> None:
    assert [(e.day, e.minutes, e.clinician) for e in march.time_entries] == [
        (date(2026, 3, 1), 12, "JD"), (date(2026, 3, 15), 8, "AB"),
        (date(2026, 3, 31), 25, "JD")]
    assert march.time_entries[1].note == SCRIPT_NOTE and march.time_entries[1].at_ms is None
    assert march.total_minutes == 45
    assert [(c.day, c.kind, c.note) for c in march.communications] == [
        (date(2026, 3, 1), "call", "check-in"), (date(2026, 3, 31), "video", "ROM review")]


def test_the_program_changes_mid_month(march: MonthlyReport) -> None:
    assert [(s.prescription.version, s.first, s.last, s.prescription.items)
            for s in march.programs] == [
        (1, date(2026, 3, 1), date(2026, 3, 15), V1),
        (2, date(2026, 3, 16), date(2026, 3, 31), V2),
    ]


def test_billing_is_the_billing_reports_own(march: MonthlyReport, tmp_path: Path) -> None:
    assert [(x.item, x.code, x.units, x.status, x.amount) for x in march.billing.lines] == [
        (billing_report.SETUP_ITEM, "", 0, Status.FINAL, None),  # billable in February
        (billing_report.SUPPLY_ITEM, "98977", 1, Status.FINAL, Decimal("22.00")),
        (billing_report.TREATMENT_ITEM, "98980", 1, Status.FINAL, Decimal("55.00")),
        (billing_report.TREATMENT_ITEM, "98981", 1, Status.FINAL, Decimal("66.00")),
    ]
    assert march.final_totals == {"USD": Decimal("143.00")}
    assert march.billing.lines[0].first == date(2026, 2, 21)


def test_billing_matches_rtm_clinic_billing(clinic: Path) -> None:
    store = SQLiteStore(clinic / "rtm.db", zone=TZ)
    conn = time_log.open_time_log(clinic / "clinic.db")
    try:
        [bill] = billing_report.build(store, registry_mod.load(clinic / "reg.csv"), conn,
                                      ["P-1"], MARCH, TODAY, TZ,
                                      fees_mod.load(clinic / "fees.csv"))
    finally:
        store.close()
        conn.close()
    [r] = reports(clinic, ["P-1"])
    assert r.billing == bill


def test_a_running_month_is_reported_up_to_today(clinic: Path) -> None:
    [r] = reports(clinic, ["P-1"], Month(2026, 3), today=date(2026, 3, 15))
    assert r.running
    assert max(d.day for d in r.data_days) == date(2026, 3, 15)
    assert [e.day for e in r.time_entries] == [date(2026, 3, 1), date(2026, 3, 15)]
    assert len(r.communications) == 1
    assert [s.prescription.version for s in r.programs] == [1]  # version 2 starts tomorrow
    assert [(p.number, p.days_with_data) for p in r.periods] == [(1, 16), (2, 4)]
    # Period 1 ended on Mar 11; period 2 runs today; the month's minutes can still grow.
    assert [(x.item, x.first, x.status) for x in r.billing.lines[1:]] == [
        (billing_report.SUPPLY_ITEM, date(2026, 2, 10), Status.FINAL),
        (billing_report.SUPPLY_ITEM, date(2026, 3, 12), Status.IN_PROGRESS),
        (billing_report.TREATMENT_ITEM, date(2026, 3, 1), Status.IN_PROGRESS),
    ]


def test_several_patients_at_once(clinic: Path) -> None:
    p1, p2 = reports(clinic, ["P-1", "P-2"])
    assert p1.patient_id == "P-1" and len(p1.data_days) == 17
    assert [(d.day, d.devices) for d in p2.data_days] == [(date(2026, 3, 25), (DEV_C,))]
    assert [(p.number, p.first) for p in p2.periods] == [(1, date(2026, 3, 20))]
    assert p2.time_entries == [] and p2.programs == []


def test_a_month_before_monitoring_has_no_periods_or_days(clinic: Path) -> None:
    [r] = reports(clinic, ["P-2"], Month(2026, 2))
    assert r.data_days == [] and r.periods == []


def test_refusals(clinic: Path) -> None:
    with pytest.raises(ValueError, match="not in the enrollment registry"):
        reports(clinic, ["P-9"])
    with pytest.raises(ValueError, match="after today"):
        reports(clinic, ["P-1"], Month(2026, 5))


def test_a_newer_version_supersedes_one_that_starts_later() -> None:
    item = (Item("squat", 1, 1, 1),)
    history = [Prescription("P", 1, date(2026, 3, 10), item, 0),
               Prescription("P", 2, date(2026, 3, 1), item, 0)]  # made later, starts earlier
    spans = programs_in_force(history, date(2026, 3, 1), date(2026, 3, 31))
    assert [(s.prescription.version, s.first, s.last) for s in spans] == [
        (2, date(2026, 3, 1), date(2026, 3, 31))]


def test_period_days_ignores_days_before_the_start() -> None:
    start = date(2026, 3, 20)
    [p] = period_days(start, MARCH, {date(2026, 3, 20), date(2026, 4, 1)}, date(2026, 4, 2))
    assert (p.days_with_data, p.in_month) == (2, 1)
