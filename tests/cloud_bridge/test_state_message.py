"""Validating device state messages: what the gateway builds passes and means what it says;
anything else is rejected with a reason."""

from __future__ import annotations

import json

import pytest

from cloud_bridge.device_state import DeviceState
from cloud_bridge.state_message import StateRejected, parse_state
from cloud_bridge.stores.state_check import check_device_state
from gateway.devices import DeviceStatus
from gateway.state_report import build_state, state_topic

GW = "home-1"
DEV = "a1b2c3d4e5f6"
TOPIC = state_topic(GW, DEV)
T0 = 1_790_000_000_000


def body(**changes: object) -> dict[str, object]:
    good: dict[str, object] = {
        "schema": "rtm.device_state.v1", "gateway": GW, "device": DEV, "reported_ms": T0,
        "last_sync_ms": T0 - 1000, "last_attempt_ms": T0, "battery_pct": 42,
        "log_used_pct": 7, "refused": 0, "consecutive_failures": 1, "firmware": "0.1.0"}
    good.update(changes)
    return good


def payload(**changes: object) -> bytes:
    return json.dumps(body(**changes)).encode()


def test_what_the_gateway_builds_is_read_back_field_for_field() -> None:
    status = DeviceStatus(DEV, T0, T0 - 5000, 42, "0.1.0", 10_000, 9_000, 3, None, 2,
                          10_000 - 4096 + 1)
    state = parse_state(TOPIC, build_state(GW, status, T0 + 1))
    assert state == DeviceState(DEV, GW, T0 + 1, T0 - 5000, T0, 42, 24, 3, 2, "0.1.0")
    check_device_state(state)  # every store can keep it


def test_unknowns_are_none_whether_null_or_absent() -> None:
    nulls = {k: None for k in ("last_sync_ms", "last_attempt_ms", "battery_pct",
                               "log_used_pct", "refused", "firmware")}
    state = parse_state(TOPIC, payload(**nulls))
    assert state == DeviceState(DEV, GW, T0, None, None, None, None, None, 1, None)
    absent = {k: v for k, v in body().items() if k not in nulls}
    assert parse_state(TOPIC, json.dumps(absent).encode()) == state


@pytest.mark.parametrize("topic, data, reason", [
    ("rtm/v1/home-1/A1B2C3D4E5F6/state", payload(), "bad_topic"),
    ("rtm/v1/home 1/a1b2c3d4e5f6/state", payload(), "bad_topic"),
    (TOPIC, b"x" * 5000, "too_large"),
    (TOPIC, b"\xff", "not_json"),
    (TOPIC, b"[1]", "not_object"),
    (TOPIC, payload(schema="rtm.device_state.v2"), "bad_schema"),
    (TOPIC, payload(gateway="home-2"), "topic_mismatch"),
    (TOPIC, payload(device="0a0b0c0d0e0f"), "topic_mismatch"),
    (TOPIC, payload(reported_ms=None), "bad_field"),
    (TOPIC, payload(reported_ms=1_000), "bad_field"),  # 1970: a clock never set
    (TOPIC, payload(reported_ms=str(T0)), "bad_field"),
    (TOPIC, payload(last_sync_ms=5_000_000_000_000), "bad_field"),  # after 2100
    (TOPIC, payload(last_attempt_ms=1.5), "bad_field"),
    (TOPIC, payload(battery_pct=101), "bad_field"),
    (TOPIC, payload(battery_pct=-1), "bad_field"),
    (TOPIC, payload(battery_pct=True), "bad_field"),
    (TOPIC, payload(log_used_pct=250), "bad_field"),
    (TOPIC, payload(refused=70_000), "bad_field"),
    (TOPIC, payload(consecutive_failures=None), "bad_field"),
    (TOPIC, payload(consecutive_failures=-2), "bad_field"),
    (TOPIC, payload(firmware=""), "bad_field"),
    (TOPIC, payload(firmware="x" * 65), "bad_field"),
    (TOPIC, payload(firmware="1.0\n"), "bad_field"),
    (TOPIC, payload(firmware=7), "bad_field"),
])
def test_bad_messages_are_rejected_with_a_reason(topic: str, data: bytes, reason: str) -> None:
    with pytest.raises(StateRejected) as exc:
        parse_state(topic, data)
    assert exc.value.reason == reason
