"""The gateway's device registry: enrolled devices, per-device status, waiting programs."""

import threading

import pytest

from gateway import devices as d
from gateway.devices import DeviceRegistry
from gateway.outbox import Outbox

DEV = "a1b2c3d4e5f6"
OTHER = "0a0b0c0d0e0f"


@pytest.fixture
def reg(tmp_path):
    r = DeviceRegistry(tmp_path / "gw.db")
    yield r
    r.close()


def test_enroll_unenroll_and_survive_a_restart(tmp_path) -> None:
    reg = DeviceRegistry(tmp_path / "gw.db")
    reg.enroll(DEV, "A1:B2:C3:D4:E5:F6", 1000, "0.1.0")
    reg.enroll(OTHER, "0A:0B:0C:0D:0E:0F", 2000)
    assert reg.enrolled() == {DEV, OTHER}
    reg.close()
    reg = DeviceRegistry(tmp_path / "gw.db")
    assert reg.device(DEV) == d.EnrolledDevice(DEV, "A1:B2:C3:D4:E5:F6", 1000, "0.1.0")
    assert [x.device_id for x in reg.devices()] == [OTHER, DEV]
    reg.record_failure(DEV, 3000, "boom")
    reg.offer_program(DEV, 1, b"p", 3000)
    assert reg.unenroll(DEV) is True and reg.unenroll(DEV) is False
    assert reg.enrolled() == {OTHER}
    assert reg.status(DEV) is None and reg.pending_program(DEV) is None
    reg.close()


def test_shares_the_outbox_file(tmp_path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    reg = DeviceRegistry(tmp_path / "o.db")
    outbox.reset_device(DEV, 1, 5)
    reg.enroll(DEV, "addr", 1)
    assert outbox.device_state(DEV) == (1, 5) and reg.enrolled() == {DEV}


def test_status_counts_failures_until_a_sync(reg) -> None:
    reg.enroll(DEV, "addr", 1, "0.1.0")
    assert reg.record_failure(DEV, 10, "TimeoutError: no answer") == 1
    assert reg.record_failure(DEV, 20, "BleakError: gone") == 2
    s = reg.status(DEV)
    assert (s.consecutive_failures, s.last_error, s.last_attempt_ms, s.last_sync_ms) == (
        2, "BleakError: gone", 20, None)
    assert s.unsynced is None
    reg.record_sync(DEV, 30, battery_pct=80, last_seq=120, acked_seq=100, refused=2)
    s = reg.status(DEV)
    assert s == d.DeviceStatus(DEV, 30, 30, 80, "0.1.0", 120, 100, 2, "BleakError: gone", 0)
    assert s.unsynced == 20
    reg.record_sync(DEV, 40, battery_pct=79, last_seq=120, acked_seq=110, refused=2,
                    error="outbox full")
    assert reg.status(DEV).last_error == "outbox full"


def test_statuses_list_enrolled_devices_never_attempted(reg) -> None:
    reg.enroll(DEV, "addr", 1, "0.2.0")
    reg.record_failure(OTHER, 5, "x")  # statically configured, not enrolled here
    listed = reg.statuses({"ffffffffffff"})
    assert [s.device_id for s in listed] == [OTHER, DEV, "ffffffffffff"]
    assert listed[1].firmware == "0.2.0" and listed[1].last_attempt_ms is None
    assert listed[0].consecutive_failures == 1


def test_programs_by_version(reg) -> None:
    assert reg.offer_program(DEV, 2, b"v2", 10) == d.STORED
    assert reg.offer_program(DEV, 2, b"v2", 11) == d.DUPLICATE
    assert reg.offer_program(DEV, 1, b"v1", 12) == d.SUPERSEDED
    assert reg.pending_program(DEV) == d.PendingProgram(DEV, 2, b"v2", 10)
    assert reg.offer_program(DEV, 3, b"v3", 13) == d.STORED
    reg.program_done(DEV, 3, "applied", 20)
    assert reg.pending_program(DEV) is None
    assert reg.program_state(DEV) == (3, "applied")
    assert reg.offer_program(DEV, 3, b"v3", 21) == d.ALREADY_DONE  # retained, redelivered
    assert reg.offer_program(DEV, 2, b"v2", 22) == d.ALREADY_DONE
    assert reg.offer_program(DEV, 4, b"v4", 23) == d.STORED


def test_an_answer_for_an_older_version_keeps_a_newer_one_waiting(reg) -> None:
    reg.offer_program(DEV, 5, b"v5", 10)
    reg.program_done(DEV, 4, "rejected", 11)
    assert reg.pending_program(DEV).version == 5
    assert reg.program_state(DEV) == (4, "rejected")


def test_two_threads_at_once(reg) -> None:
    def offer(start: int) -> None:
        for v in range(start, start + 50):
            reg.offer_program(DEV, v, b"p", v)
            reg.record_failure(OTHER, v, "x")

    threads = [threading.Thread(target=offer, args=(i * 50 + 1,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reg.pending_program(DEV).version == 200
    assert reg.status(OTHER).consecutive_failures == 200


def test_status_keeps_the_first_readable_seq_and_an_older_registry_gets_its_column(
        tmp_path) -> None:
    import sqlite3
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE device_status (device_id TEXT PRIMARY KEY, last_attempt_ms INTEGER,
            last_sync_ms INTEGER, battery_pct INTEGER, last_seq INTEGER, acked_seq INTEGER,
            refused INTEGER, last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0, firmware TEXT);
        INSERT INTO device_status VALUES ('a1b2c3d4e5f6', 5, 5, 70, 9, 9, 0, NULL, 0, '0.1');
    """)
    db.close()
    reg = DeviceRegistry(path)
    assert reg.status(DEV).first_seq is None  # synced before the column existed
    reg.record_sync(DEV, 30, battery_pct=80, last_seq=5000, acked_seq=4990, refused=0,
                    first_seq=905)
    assert reg.status(DEV).first_seq == 905
    assert [s.first_seq for s in reg.statuses()] == [905]
    reg.close()
