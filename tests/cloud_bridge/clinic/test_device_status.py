from datetime import date

from cloud_bridge.clinic.device_status import device_line, state_text
from tests.cloud_bridge.clinic.clinic_builder import TZ, at, state


def test_a_full_and_a_sparse_state() -> None:
    full = state("d00000000001", at(date(2026, 3, 20), 3, 10), consecutive_failures=2)
    assert device_line("d00000000001", full, TZ) == (
        "wearable d00000000001: last sync Fri 2026-03-20 03:10 via home-1, 2 failed attempts "
        "since, battery 80%, storage 5% full, firmware 1.2.0")
    bare = state("d00000000009", at(date(2026, 3, 19), 23, 59), battery_pct=None,
                 log_used_pct=None, firmware=None, refused=3, consecutive_failures=1)
    assert state_text(bare, TZ) == ("last sync Thu 2026-03-19 23:59 via home-9, 1 failed "
                                    "attempt since, 3 records refused")


def test_never_synced_and_no_state() -> None:
    never = state("d00000000005", None, battery_pct=None, log_used_pct=None,
                  consecutive_failures=9)
    assert state_text(never, TZ) == "never synced, 9 failed attempts, firmware 1.2.0"
    assert device_line("d00000000006", None, TZ) == "wearable d00000000006: no state reported yet"
