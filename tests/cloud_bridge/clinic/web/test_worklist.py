from datetime import date

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.attention import Assessment
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Prescriptions
from cloud_bridge.clinic.web import worklist
from tests.cloud_bridge.clinic.clinic_builder import StatesStore
from tests.cloud_bridge.clinic.web.clinic_data import STATES, TODAY, TZ, make_clinic


def test_rows_and_the_attention_ranking(tmp_path) -> None:
    c = make_clinic(tmp_path)
    store = StatesStore(c.store, zone=TZ, states=STATES)
    conn = open_clinic_db(c.clinic_db)
    try:
        rows = worklist.rows(store, registry_mod.load(c.registry),
                             Prescriptions(conn).histories(), TODAY)
    finally:
        conn.close()
        store.close()
    assert store.calls == {"daily_totals": 1, "days_with_data": 1, "last_days": 1,
                           "device_states": 1}
    by_id = {r.patient_id: r for r in rows}
    assert by_id["P-1"].days_since_data == 0 and by_id["P-1"].period.days_with_data == 9
    assert by_id["P-2"].last_day_with_data == date(2026, 2, 3)
    assert by_id["P-2"].days_since_data == 17
    assert by_id["P-3"].last_day_with_data is None and by_id["P-3"].last_data_text == "never"
    assert [r.text for r in by_id["P-2"].assessment.reasons] == [
        "no data for 17 days (last: Tue 2026-02-03)",
        "not synced for 17 days (last: Tue 2026-02-03)", "no prescription yet"]
    assert [r.text for r in by_id["P-1"].assessment.reasons] == [
        "battery 15% at the last sync"]
    assert [r.patient_id for r in worklist.rank(rows)] == ["P-2", "P-3", "P-1"]


def test_a_patient_not_started_has_no_period_and_comes_last() -> None:
    def row(pid: str, start: date, days: int | None) -> worklist.WorklistRow:
        return worklist.WorklistRow(pid, start, None, None, None,
                                    Assessment(pid, start, None, days, ()))

    later, fine = row("P-0", date(2026, 3, 1), None), row("P-9", date(2026, 2, 19), 2)
    assert worklist.rank([later, fine]) == [fine, later]
    assert fine.last_data_text == "never"
