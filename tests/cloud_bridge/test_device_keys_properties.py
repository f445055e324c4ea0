"""Property tests of the enrollment message (cloud_bridge/device_keys.py parse_enrollment):
what the gateway builds (gateway/enrollment.py) round trips, and anything else is an
EnrollmentMessage or an EnrollmentRejected with a counted reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.device_keys import (
    ENROLLED,
    MAX_MESSAGE_BYTES,
    UNENROLLED,
    EnrollmentRejected,
    parse_enrollment,
)
from gateway.enrollment import build_registration
from tests.fuzz_inputs import deeply_nested_json, payloads_around

pytestmark = pytest.mark.chaos

GATEWAY = "home-1"
DEVICE = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/{GATEWAY}/{DEVICE}/enrollment"
REASONS = {"bad_topic", "too_large", "not_json", "not_object", "bad_schema", "topic_mismatch",
           "bad_field"}
SECRETS = st.binary(min_size=32, max_size=32).filter(lambda s: any(s))
AT_MS = st.integers(1_600_000_000_000, 4_102_444_800_000)
FIRMWARE = st.none() | st.text(max_size=64)


def valid_body() -> dict[str, Any]:
    return json.loads(build_registration(GATEWAY, DEVICE, ENROLLED, bytes(range(1, 33)),
                                         "0.1.0", 1_790_000_000_000))


def parse_or_reason(data: bytes, topic: str = TOPIC) -> None:
    try:
        parse_enrollment(topic, data)
    except EnrollmentRejected as e:
        assert e.reason in REASONS, e.reason
        assert str(e).startswith(f"{e.reason}: ")


@settings(max_examples=200)
@given(SECRETS, FIRMWARE, AT_MS)
def test_an_enrollment_round_trips(secret: bytes, firmware: str | None, at_ms: int) -> None:
    message = parse_enrollment(TOPIC, build_registration(GATEWAY, DEVICE, ENROLLED, secret,
                                                         firmware, at_ms))
    assert (message.gateway_id, message.device_id, message.state, message.secret,
            message.firmware, message.at_ms) == (GATEWAY, DEVICE, ENROLLED, secret, firmware,
                                                 at_ms)


@settings(max_examples=100)
@given(FIRMWARE, AT_MS)
def test_an_unenrollment_round_trips_without_a_secret(firmware: str | None, at_ms: int) -> None:
    message = parse_enrollment(TOPIC, build_registration(GATEWAY, DEVICE, UNENROLLED, None,
                                                         firmware, at_ms))
    assert (message.state, message.secret) == (UNENROLLED, None)


@settings(max_examples=400)
@given(st.one_of(payloads_around(valid_body()), st.binary(max_size=300)))
def test_any_payload_is_an_enrollment_or_a_rejection_with_a_reason(data: bytes) -> None:
    parse_or_reason(data)


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_any_topic_is_checked(topic: str) -> None:
    parse_or_reason(json.dumps(valid_body()).encode(), topic)


def test_oversized_and_deeply_nested_payloads_are_refused_early() -> None:
    with pytest.raises(EnrollmentRejected, match="too_large"):
        parse_enrollment(TOPIC, b" " * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(EnrollmentRejected, match="not_json"):
        parse_enrollment(TOPIC, deeply_nested_json(2000))
