"""The clinic's side of program delivery without a broker: the program bytes the wearable
gets, versions that only grow, acks checked and kept, the state shown per wearable."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescription
from cloud_bridge.clinic.program_publisher import (
    Deliveries,
    ProgramAck,
    delivery_state,
    parse_ack,
    program_bytes,
    utc_offset_min,
)
from firmware.core import exercises, program
from gateway.downlink import build_ack

DEV = "a1b2c3d4e5f6"
UTC = ZoneInfo("UTC")
T = 1_790_000_000_000  # 2026-09-21


def rx(*items: Item, version: int = 1) -> Prescription:
    return Prescription("P-1", version, date(2026, 3, 2), items, 0)


def test_the_wearable_gets_exercise_sets_reps_rest_and_the_low_end_of_the_range() -> None:
    data = program_bytes(rx(Item("squat", 3, 10, 5, 60, 90, rest_s=45),
                            Item("heel_raise", 2, 15, 3)), -300)
    p = program.decode(data)  # what the wearable checks
    assert (p.count, p.flags, p.utc_offset_min) == (2, 0, -300)
    assert [(exercises.name_of(p.exercise(i)), p.sets(i), p.reps(i), p.target_rom_cdeg(i),
             p.rest_s(i)) for i in range(p.count)] == [("squat", 3, 10, 6000, 45),
                                                        ("heel_raise", 2, 15, 0, 30)]


def test_an_ended_prescription_clears_the_wearables_program() -> None:
    assert program.decode(program_bytes(rx(), 60)).count == 0


@pytest.mark.parametrize("zone, when, minutes", [
    ("Europe/Berlin", datetime(2026, 1, 15, 12), 60),
    ("Europe/Berlin", datetime(2026, 7, 15, 12), 120),
    ("America/New_York", datetime(2026, 1, 15, 12), -300),
    ("Asia/Kolkata", datetime(2026, 1, 15, 12), 330),
    ("Pacific/Chatham", datetime(2026, 1, 15, 12), 825),
])
def test_the_homes_offset_is_the_one_at_publishing(zone: str, when: datetime,
                                                   minutes: int) -> None:
    assert utc_offset_min(ZoneInfo(zone), when.replace(tzinfo=UTC)) == minutes


def test_an_ack_from_the_gateway_is_read_and_a_bad_one_refused() -> None:
    topic = f"rtm/v1/home-1/{DEV}/program/ack"
    ack = parse_ack(topic, build_ack(DEV, 7, "rejected", "bad_program: CRC", T))
    assert ack == ProgramAck("home-1", DEV, 7, "rejected", "bad_program: CRC", T)
    for bad_topic, payload, why in [
        (f"rtm/v1/home-1/{DEV}/program", build_ack(DEV, 7, "applied", None, T), "topic"),
        (topic, b"\xff", "not JSON"),
        (topic, b"[]", "rtm.program_ack.v1"),
        (topic, build_ack("0a0b0c0d0e0f", 7, "applied", None, T), "differs"),
        (topic, build_ack(DEV, 0, "applied", None, T), "version"),
        (topic, build_ack(DEV, 7, "maybe", None, T), "status"),
        (topic, build_ack(DEV, 7, "applied", None, -1), "at_ms"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_ack(bad_topic, payload)


def test_versions_only_grow_per_device(tmp_path) -> None:
    d = Deliveries(open_clinic_db(tmp_path / "clinic.db"))
    first = d.reserve("P-1", DEV, "home-1", 1, b"p", T)
    assert first == (T - 1_577_836_800_000) // 60_000  # minutes since 2020
    assert d.reserve("P-1", DEV, "home-1", 2, b"p", T) == first + 1  # within the minute
    assert d.reserve("P-1", "0a0b0c0d0e0f", "home-1", 2, b"p", T) == first  # per device
    # A clinic.db made anew later still publishes above what the broker may hold.
    fresh = Deliveries(open_clinic_db(tmp_path / "other.db"))
    assert fresh.reserve("P-1", DEV, "home-1", 1, b"p", T + 3_600_000) > first + 1


def test_the_newest_versions_ack_is_kept(tmp_path) -> None:
    d = Deliveries(open_clinic_db(tmp_path / "clinic.db"))
    assert d.store_ack(ProgramAck("home-1", DEV, 5, "applied", None, T), T)
    assert not d.store_ack(ProgramAck("home-1", DEV, 4, "rejected", "late", T), T)
    assert d.last_ack(DEV) == ProgramAck("home-1", DEV, 5, "applied", None, T)
    assert d.store_ack(ProgramAck("home-1", DEV, 6, "rejected", "malformed", T + 1), T)
    assert d.last_ack(DEV).version == 6


def test_each_wearables_state_in_words(tmp_path) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    d = Deliveries(open_clinic_db(tmp_path / "clinic.db"))
    assert delivery_state(None, None, berlin) == "no program published"
    version = d.reserve("P-1", DEV, "home-1", 3, b"p", T)
    pub = d.last_publication(DEV)
    assert "NOT confirmed by the broker" in delivery_state(pub, None, berlin)
    d.confirm(DEV, version, T)
    pub = d.last_publication(DEV)
    assert delivery_state(pub, None, berlin) == (
        f"prescription v3 as program version {version}: at the gateway, waiting for the "
        f"wearable's next sync")
    older = ProgramAck("home-1", DEV, version - 1, "applied", None, T)
    assert "waiting for the wearable's next sync" in delivery_state(pub, older, berlin)
    applied = ProgramAck("home-1", DEV, version, "applied", None, T)
    assert delivery_state(pub, applied, berlin).endswith(
        "on the wearable since 2026-09-21 16:13")
    rejected = ProgramAck("home-1", DEV, version, "rejected", "no program storage", T)
    assert "REJECTED at 2026-09-21 16:13 (no program storage)" in delivery_state(
        pub, rejected, berlin)
