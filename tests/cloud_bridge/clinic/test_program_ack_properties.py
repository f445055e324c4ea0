"""Property tests of the clinic's reading of program acks (cloud_bridge/clinic/
program_publisher.py parse_ack): the gateway's ack (gateway/downlink.py build_ack) round
trips; anything else raises ValueError, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.clinic.program_publisher import parse_ack
from gateway.downlink import APPLIED, MAX_VERSION, REJECTED, build_ack
from tests.fuzz_inputs import deeply_nested_json, payloads_around

pytestmark = pytest.mark.chaos

DEVICE = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/home-1/{DEVICE}/program/ack"


def valid_body() -> dict[str, Any]:
    return json.loads(build_ack(DEVICE, 7, APPLIED, None, 1_790_000_000_000))


@settings(max_examples=200)
@given(st.integers(1, MAX_VERSION), st.sampled_from((APPLIED, REJECTED)),
       st.none() | st.text(max_size=1000), st.integers(0, 2**63))
def test_an_ack_round_trips(version: int, status: str, reason: str | None, at_ms: int) -> None:
    ack = parse_ack(TOPIC, build_ack(DEVICE, version, status, reason, at_ms))
    assert (ack.device_id, ack.version, ack.status, ack.reason, ack.at_ms) == (
        DEVICE, version, status, reason, at_ms)


@settings(max_examples=300)
@given(st.one_of(payloads_around(valid_body()), st.binary(max_size=300)), st.booleans())
def test_any_payload_is_an_ack_or_a_value_error(data: bytes, good_topic: bool) -> None:
    try:
        parse_ack(TOPIC if good_topic else "rtm/v1/home-1/program/ack", data)
    except ValueError as e:
        assert type(e) is ValueError and str(e)


def test_deeply_nested_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        parse_ack(TOPIC, deeply_nested_json(1500))
