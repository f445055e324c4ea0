"""The device state contract (`Store.write_device_states`, `Store.device_states`), run
against SQLite, a real InfluxDB 1.x, and the 2.x/3.x store reading that server through its
v1-compatible /query (writes through 1.x's /write, as in test_daily_contract.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_bridge.device_state import DeviceState
from cloud_bridge.stores.base import Store, StoreRejected
from cloud_bridge.stores.influx_v1 import InfluxV1Store
from cloud_bridge.stores.influx_v2 import InfluxV2Store
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.stores.test_store_contract import EVERYTHING, rep

T0 = 1_790_000_000_000
DEV_A = "a1b2c3d4e5f6"
DEV_B = "0123456789ab"


def state(device: str = DEV_A, reported_ms: int = T0, **changes: object) -> DeviceState:
    full = DeviceState(device_id=device, gateway_id="home-1", reported_ms=reported_ms,
                       last_sync_ms=reported_ms - 60_000, last_attempt_ms=reported_ms,
                       battery_pct=64, log_used_pct=12, refused=3, consecutive_failures=0,
                       firmware="0.1.0")
    return replace(full, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("influxdb1", marks=pytest.mark.integration),
                        pytest.param("influxdb2", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "states.db")
        yield sqlite
        sqlite.close()
        return
    url = request.getfixturevalue("influxdb_server").url
    database = f"test_{uuid.uuid4().hex[:12]}"
    opened: Store
    if request.param == "influxdb1":
        opened = InfluxV1Store(url, database, daily_refresh_s=None)
    else:
        opened = InfluxV2Store(url, org="clinic", bucket=database, token="unused-by-1.x",
                               daily_refresh_s=None)
        # 1.6.7 has no /api/v2/write: this store writes through 1.x's /write; every query
        # is its own (one statement per request, no chunking).
        writer = InfluxV1Store(url, database, daily_refresh_s=None)
        opened._write_lines = writer._write_lines  # type: ignore[method-assign]
    yield opened
    opened.close()
    InfluxV1Store(url, database).drop_database()


def test_an_empty_store_has_no_states(store: Store) -> None:
    assert store.device_states(None) == {}
    assert store.device_states([DEV_A]) == {}


def test_states_read_back_field_for_field(store: Store) -> None:
    a = state(firmware='1.2.0 "beta" \\ build, 7=x')  # quotes, backslash, comma, equals
    b = state(DEV_B, T0 + 5, battery_pct=0, log_used_pct=100, refused=65535,
              consecutive_failures=12, firmware="r" * 64)
    store.write_device_states([a, b])
    assert store.device_states(None) == {DEV_A: a, DEV_B: b}
    got = store.device_states([DEV_A])[DEV_A]
    assert all(type(getattr(got, f)) is int for f in (
        "reported_ms", "last_sync_ms", "last_attempt_ms", "battery_pct", "log_used_pct",
        "refused", "consecutive_failures"))


def test_unknown_fields_come_back_none(store: Store) -> None:
    never_synced = state(last_sync_ms=None, battery_pct=None, log_used_pct=None,
                         refused=None, firmware=None, consecutive_failures=4)
    store.write_device_states([never_synced])
    assert store.device_states(None) == {DEV_A: never_synced}


def test_the_latest_report_wins_and_a_field_it_no_longer_knows_is_none(store: Store) -> None:
    store.write_device_states([state(reported_ms=T0)])
    newer = state(reported_ms=T0 + 30_000, battery_pct=None, firmware=None,
                  consecutive_failures=1)
    store.write_device_states([newer])
    # Not each field's last known value: the report as it was made.
    assert store.device_states([DEV_A]) == {DEV_A: newer}


def test_an_older_report_arriving_later_does_not_replace_a_newer_one(store: Store) -> None:
    newer = state(reported_ms=T0 + 60_000, consecutive_failures=0)
    store.write_device_states([newer])
    store.write_device_states([state(reported_ms=T0, consecutive_failures=9)])
    assert store.device_states(None) == {DEV_A: newer}


def test_in_one_call_the_latest_of_a_device_wins_whatever_the_order(store: Store) -> None:
    reports = [state(reported_ms=T0 + i * 1000, battery_pct=90 - i) for i in (3, 1, 4, 2)]
    store.write_device_states(reports)
    assert store.device_states(None)[DEV_A] == reports[2]


def test_the_same_report_twice_keeps_it(store: Store) -> None:
    s = state()
    store.write_device_states([s])
    store.write_device_states([s])
    assert store.device_states(None) == {DEV_A: s}


def test_device_filter(store: Store) -> None:
    devices = [f"{i:012x}" for i in range(1, 131)]  # more than one InfluxQL statement's worth
    store.write_device_states([state(d, T0 + i) for i, d in enumerate(devices)])
    everything = store.device_states(None)
    assert sorted(everything) == devices
    wanted = [devices[0], devices[64], devices[129], devices[129]]
    assert store.device_states(wanted) == {d: everything[d] for d in wanted}
    assert store.device_states([]) == {}
    assert store.device_states(["000000000000"]) == {}


def test_states_and_records_live_side_by_side(store: Store) -> None:
    records = [rep(DEV_A, 1, T0), rep(DEV_A, 2, T0 + 1)]
    store.write(records)
    store.write_device_states([state(reported_ms=T0)])
    assert store.query(None, *EVERYTHING) == records
    assert store.undated(None, *EVERYTHING) == []
    assert list(store.device_states(None)) == [DEV_A]


@pytest.mark.parametrize("bad", [
    state(device_id=""), state(device_id="a\\b"), state(gateway_id="home 1\n"),
    state(reported_ms=-1), state(reported_ms=2**62), state(battery_pct=-5),
    state(consecutive_failures=None), state(refused=1.5), state(firmware="a\nb"),
    state(firmware=""),
])
def test_a_state_no_store_can_keep_is_rejected_before_anything_is_written(
        store: Store, bad: DeviceState) -> None:
    with pytest.raises(StoreRejected):
        store.write_device_states([state(DEV_B), bad])
    assert store.device_states(None) == {}


@pytest.mark.integration
def test_influx_reads_the_report_before_a_point_still_being_written(
        influx_store: InfluxV1Store) -> None:
    """1.x makes a point visible field by field: a row with fewer fields than its n_fields
    says is not read as a report with unknowns."""
    whole = state(reported_ms=T0)
    influx_store.write_device_states([whole])
    influx_store._write_lines([  # a later point caught half-written: 3 of its 10 fields
        f'device_state,device={DEV_A} gateway="home-1",consecutive_failures=0i,'
        f"n_fields=10i {(T0 + 1000) * 1_000_000}"])
    assert influx_store.device_states(None) == {DEV_A: whole}


def test_a_recent_hint_changes_nothing_in_the_answer(store: Store) -> None:
    """device_states(recent_ms=...): the devices that reported since then, and those whose
    last report is older (looked for further back), each with its latest report."""
    day = 86_400_000
    c = "cccccccccccc"
    store.write_device_states([state(DEV_A, T0 - 30 * day), state(DEV_A, T0 - day),
                               state(DEV_A, T0, battery_pct=5),
                               state(DEV_B, T0 - 400 * day), state(DEV_B, T0 - 90 * day),
                               state(c, T0 + day)])
    everyone = store.device_states([DEV_A, DEV_B, c, "000000000000"])
    assert {d: s.reported_ms for d, s in everyone.items()} == {
        DEV_A: T0, DEV_B: T0 - 90 * day, c: T0 + day}
    for recent in (T0 - 2 * day, T0, T0 + 2 * day, T0 - 1000 * day):
        assert store.device_states([DEV_A, DEV_B, c, "000000000000"],
                                   recent_ms=recent) == everyone
    assert store.device_states(None, recent_ms=T0) == everyone
    assert store.device_states([DEV_B], recent_ms=T0) == {DEV_B: everyone[DEV_B]}
