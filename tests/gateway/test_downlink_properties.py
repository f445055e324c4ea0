"""Property tests of the gateway's program message parsing (gateway/downlink.py): the
clinic's message round trips, anything else raises ProgramMessageError with a counted
reason, and the handler paho calls never raises."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import program
from gateway.downlink import (
    MAX_PROGRAM_MESSAGE_BYTES,
    MAX_VERSION,
    Downlink,
    ProgramMessageError,
    build_program_message,
    parse_program_message,
)
from tests.fuzz_inputs import deeply_nested_json, payloads_around

pytestmark = pytest.mark.chaos

GATEWAY = "home-1"
DEVICE = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/{GATEWAY}/{DEVICE}/program"
REASONS = {"bad_topic", "other_gateway", "too_large", "not_json", "not_object", "bad_schema",
           "topic_mismatch", "bad_field", "bad_program"}
ITEMS = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 255), st.integers(1, 255),
                           st.integers(0, 18000), st.integers(0, 255)), max_size=6)


def valid_body() -> dict[str, Any]:
    return json.loads(build_program_message(DEVICE, 7, program.encode([(1, 3, 10, 9000, 30)])))


def parse_or_reason(data: bytes, topic: str = TOPIC) -> None:
    try:
        parse_program_message(GATEWAY, topic, data)
    except ProgramMessageError as e:
        assert e.reason in REASONS, e.reason
        assert str(e).startswith(f"{e.reason}: ")


@settings(max_examples=200)
@given(ITEMS, st.integers(1, MAX_VERSION))
def test_a_program_message_round_trips(items: list[tuple[int, ...]], version: int) -> None:
    data = program.encode(items)
    message = parse_program_message(GATEWAY, TOPIC, build_program_message(DEVICE, version, data))
    assert (message.device_id, message.version, message.program) == (DEVICE, version, data)


@settings(max_examples=400)
@given(st.one_of(payloads_around(valid_body()), st.binary(max_size=300)))
def test_any_payload_is_a_program_or_a_rejection_with_a_reason(data: bytes) -> None:
    parse_or_reason(data)


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_any_topic_is_checked(topic: str) -> None:
    parse_or_reason(json.dumps(valid_body()).encode(), topic)


class RecordingRegistry:
    def __init__(self) -> None:
        self.offers: list[tuple[str, int, bytes]] = []

    def offer_program(self, device_id: str, version: int, data: bytes, now_ms: int) -> str:
        self.offers.append((device_id, version, data))
        return "stored"


@settings(max_examples=200)
@given(st.one_of(payloads_around(valid_body()), st.binary(max_size=100)))
def test_the_paho_handler_never_raises_and_counts_every_rejection(data: bytes) -> None:
    registry = RecordingRegistry()
    downlink = Downlink(GATEWAY, registry, lambda: 1_790_000_000_000)  # type: ignore[arg-type]
    downlink.on_program_message(TOPIC, data, retained=True)
    assert downlink.rejected["internal_error"] == 0
    handled = sum(downlink.rejected.values()) + sum(downlink.outcomes.values())
    assert handled == 1
    assert set(downlink.rejected) <= REASONS
    assert len(registry.offers) == downlink.outcomes["stored"]
    assert isinstance(downlink.outcomes, Counter)


def test_oversized_and_deeply_nested_payloads_are_refused_early() -> None:
    with pytest.raises(ProgramMessageError, match="too_large"):
        parse_program_message(GATEWAY, TOPIC, b" " * (MAX_PROGRAM_MESSAGE_BYTES + 1))
    with pytest.raises(ProgramMessageError, match="not_json"):
        parse_program_message(GATEWAY, TOPIC, deeply_nested_json(2000))
