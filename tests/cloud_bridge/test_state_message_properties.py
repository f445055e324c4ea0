"""Property tests of the device state message (cloud_bridge/state_message.py): what the
gateway builds (gateway/state_report.py) the bridge accepts unchanged, and anything else is
a DeviceState or a StateRejected with a counted reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.state_message import MAX_MESSAGE_BYTES, StateRejected, parse_state
from gateway.devices import DeviceStatus
from gateway.state_report import build_state
from tests.fuzz_inputs import deeply_nested_json, payloads_around

pytestmark = pytest.mark.chaos

GATEWAY = "home-1"
DEVICE = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/{GATEWAY}/{DEVICE}/state"
REASONS = {"bad_topic", "too_large", "not_json", "not_object", "bad_schema", "topic_mismatch",
           "bad_field"}
UNIX_MS = st.integers(1_600_000_000_000, 4_102_444_800_000)
OPTIONAL_UNIX_MS = st.none() | UNIX_MS


@st.composite
def device_statuses(draw: st.DrawFn) -> DeviceStatus:
    last_seq = draw(st.none() | st.integers(0, 2**32 - 1))
    acked = None if last_seq is None else draw(st.integers(0, last_seq))
    first = None if last_seq is None else draw(st.integers(1, max(last_seq, 1)))
    return DeviceStatus(
        device_id=DEVICE, last_attempt_ms=draw(OPTIONAL_UNIX_MS),
        last_sync_ms=draw(OPTIONAL_UNIX_MS), battery_pct=draw(st.none() | st.integers(0, 255)),
        firmware=draw(st.none() | st.text(max_size=100)), last_seq=last_seq, acked_seq=acked,
        refused=draw(st.none() | st.integers(0, 0xFFFF)), last_error=None,
        consecutive_failures=draw(st.integers(0, 2**31 - 1)), first_seq=first)


def valid_body() -> dict[str, Any]:
    status = DeviceStatus(DEVICE, 1_790_000_000_000, 1_790_000_000_000, 64, "0.1.0", 10, 10,
                          0, None, 0, 1)
    return json.loads(build_state(GATEWAY, status, 1_790_000_000_000))


def parse_or_reason(data: bytes, topic: str = TOPIC) -> None:
    try:
        parse_state(topic, data)
    except StateRejected as e:
        assert e.reason in REASONS, e.reason
        assert str(e).startswith(f"{e.reason}: ")


@settings(max_examples=300)
@given(device_statuses(), UNIX_MS)
def test_what_the_gateway_reports_the_bridge_accepts(status: DeviceStatus,
                                                     reported_ms: int) -> None:
    state = parse_state(TOPIC, build_state(GATEWAY, status, reported_ms))
    assert (state.device_id, state.gateway_id, state.reported_ms) == (DEVICE, GATEWAY,
                                                                        reported_ms)
    assert (state.last_sync_ms, state.refused, state.consecutive_failures) == (
        status.last_sync_ms, status.refused, status.consecutive_failures)
    assert state.battery_pct == (status.battery_pct if status.battery_pct is None
                                 or status.battery_pct <= 100 else None)


@settings(max_examples=400)
@given(st.one_of(payloads_around(valid_body()), st.binary(max_size=300)))
def test_any_payload_is_a_state_or_a_rejection_with_a_reason(data: bytes) -> None:
    parse_or_reason(data)


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_any_topic_is_checked(topic: str) -> None:
    parse_or_reason(json.dumps(valid_body()).encode(), topic)


def test_oversized_and_deeply_nested_payloads_are_refused_early() -> None:
    with pytest.raises(StateRejected, match="too_large"):
        parse_state(TOPIC, b" " * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(StateRejected, match="not_json"):
        parse_state(TOPIC, deeply_nested_json(2000))
