from datetime import date

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.web import worklist
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.clinic.web.clinic_data import TODAY, TZ, make_clinic


def test_rows_and_the_placeholder_ranking(tmp_path) -> None:
    c = make_clinic(tmp_path)
    store = SQLiteStore(c.store, zone=TZ)
    try:
        rows = worklist.rows(store, registry_mod.load(c.registry), TODAY)
    finally:
        store.close()
    by_id = {r.patient_id: r for r in rows}
    assert by_id["P-1"].days_since_data == 0 and by_id["P-1"].period.days_with_data == 9
    assert by_id["P-2"].last_day_with_data == date(2026, 2, 3)
    assert by_id["P-2"].days_since_data == 17
    assert by_id["P-3"].last_day_with_data is None
    assert [r.patient_id for r in worklist.rank(rows)] == ["P-3", "P-2", "P-1"]


def test_a_patient_not_started_has_no_period() -> None:
    row = worklist.WorklistRow("P-9", date(2026, 3, 1), None, None, None)
    assert worklist.rank([row]) == [row]
