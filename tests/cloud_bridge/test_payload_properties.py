"""Property tests of the bridge's records message validation (cloud_bridge/payload.py): what
the gateway builds round trips; anything else is a ParsedMessage or a PayloadError with a
counted reason; a bad record is rejected alone with its reason; `verify` never raises."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge import payload
from cloud_bridge.payload import PayloadError, parse_message, verify
from firmware.core import auth, codec
from gateway import payload as gw_payload
from tests.fuzz_inputs import (
    JSON_VALUES,
    body_with_one_field_wrong,
    deeply_nested_json,
    json_bytes,
    mutated_bytes,
    payloads_around,
)

pytestmark = pytest.mark.chaos

GATEWAY = "home-1"
DEVICE = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/{GATEWAY}/{DEVICE}/records"
SECRET = bytes(range(32))
UNIX_MS = 1_790_000_000_000
CLOCK = {"boot": 2, "uptime_ms": 100_000, "unix_ms": UNIX_MS}
MESSAGE_REASONS = {"bad_topic", "too_large", "not_json", "not_object", "bad_schema",
                   "topic_mismatch", "bad_field"}
RECORD_REASONS = ("not a base64 string", "Incorrect padding", "Only base64 data",
                  "Excess data", "Leading padding", "Discontinuous padding",
                  "Invalid base64-encoded string", "string argument should contain only ASCII",
                  "record must be", "record CRC mismatch", "unknown record kind",
                  "record sequence number 0", "seq ")

SEQS = st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=20, unique=True)


def record(seq: int, t_ms: int = UNIX_MS, flags: int = codec.FLAG_TIME_VALID) -> bytes:
    return bytes(codec.encode_rep(seq, flags, 1, 1, t_ms, CLOCK["boot"], 1, 900, 4500, 80))


def signed_message(raws: list[bytes], log_id: int = 7) -> bytes:
    mac = auth.batch_tag(SECRET, bytes.fromhex(DEVICE), log_id, raws)
    return gw_payload.build(GATEWAY, DEVICE, raws, CLOCK["boot"], CLOCK["uptime_ms"],
                            CLOCK["unix_ms"], log_id=log_id, mac=mac)


def valid_body() -> dict[str, Any]:
    return json.loads(signed_message([record(1), record(2)]))


def parse_or_reason(topic: str, data: bytes) -> payload.ParsedMessage | None:
    try:
        parsed = parse_message(topic, data)
    except PayloadError as e:
        assert e.reason in MESSAGE_REASONS, e.reason
        assert str(e).startswith(f"{e.reason}: ")
        return None
    for reason in parsed.rejected:
        assert reason.startswith("records[")
        assert any(known in reason for known in RECORD_REASONS), reason
    assert len(parsed.records) + len(parsed.rejected) == len(parsed.raw_records)
    assert isinstance(verify(parsed, DEVICE, SECRET), bool)
    return parsed


@settings(max_examples=200)
@given(SEQS, st.integers(0, 2**32 - 1))
def test_a_signed_gateway_message_round_trips_and_verifies(seqs: list[int], log_id: int) -> None:
    raws = [record(seq, UNIX_MS + i) for i, seq in enumerate(seqs)]
    parsed = parse_message(TOPIC, signed_message(raws, log_id))
    assert parsed.rejected == []
    assert [r.seq for r in parsed.records] == seqs
    assert parsed.raw_records == raws and parsed.log_id == log_id
    assert verify(parsed, DEVICE, SECRET)
    assert not verify(parsed, DEVICE, bytes(reversed(SECRET)))


@settings(max_examples=150)
@given(st.integers(0, 0xFFFF), st.integers(0, 2**40), st.integers(0, 2**40))
def test_records_of_the_clock_boot_are_dated_exactly_and_others_flagged(
        boot: int, uptime_ms: int, t_ms: int) -> None:
    raw = bytes(codec.encode_rep(1, 0, 1, 1, t_ms, boot, 1, 900, 4500, 80))
    message = gw_payload.build(GATEWAY, DEVICE, [raw], CLOCK["boot"], uptime_ms, UNIX_MS)
    parsed = parse_or_reason(TOPIC, message)
    assert parsed is not None
    if boot == CLOCK["boot"] and t_ms <= uptime_ms:
        expected = UNIX_MS - (uptime_ms - t_ms)
        if expected < 1_600_000_000_000:
            assert parsed.rejected and "outside 2020..2100" in parsed.rejected[0]
        else:
            assert (parsed.records[0].t_ms, parsed.records[0].time_valid) == (expected, True)
    else:
        assert (parsed.records[0].t_ms, parsed.records[0].time_valid) == (UNIX_MS, False)


@settings(max_examples=300)
@given(st.one_of(payloads_around(valid_body()), st.binary(max_size=300)))
def test_any_payload_parses_or_raises_payload_error_with_a_reason(data: bytes) -> None:
    parse_or_reason(TOPIC, data)


@settings(max_examples=200)
@given(body_with_one_field_wrong(valid_body()["clock"]))
def test_a_wrong_clock_field_is_a_bad_field(clock: dict[str, Any]) -> None:
    body = valid_body()
    body["clock"] = clock
    parse_or_reason(TOPIC, json_bytes(body))


@settings(max_examples=300)
@given(st.lists(st.one_of(
    JSON_VALUES,
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.builds(record, st.integers(1, 2**32 - 1)).flatmap(mutated_bytes)
      .map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=50)), min_size=1, max_size=10))
def test_bad_records_are_rejected_alone_with_their_reason(items: list[Any]) -> None:
    body = valid_body()
    good = body["records"][0]
    body["records"] = [good, *items]
    parsed = parse_or_reason(TOPIC, json_bytes(body))
    assert parsed is not None and parsed.records[0].seq == 1


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_any_topic_is_checked_before_the_payload(topic: str) -> None:
    try:
        parse_message(topic, signed_message([record(1)]))
    except PayloadError as e:
        assert e.reason in ("bad_topic", "topic_mismatch")


@settings(max_examples=100)
@given(st.sampled_from(("mac", "log_id")), JSON_VALUES)
def test_a_wrong_mac_or_log_id_is_a_bad_field_or_fails_verification(
        key: str, value: Any) -> None:
    body = valid_body()
    body[key] = value
    parsed = parse_or_reason(TOPIC, json_bytes(body))
    if parsed is not None and (parsed.mac, parsed.log_id) != (
            auth.batch_tag(SECRET, bytes.fromhex(DEVICE), 7, parsed.raw_records), 7):
        assert not verify(parsed, DEVICE, SECRET)


def test_limits_are_enforced_before_parsing() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_message(TOPIC, b" " * (payload.MAX_PAYLOAD_BYTES + 1))
    assert caught.value.reason == "too_large"
    body = valid_body()
    body["records"] = body["records"][:1] * (payload.MAX_RECORDS + 1)
    del body["mac"]
    with pytest.raises(PayloadError) as caught:
        parse_message(TOPIC, json_bytes(body))
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deeply_nested_json_is_not_json_or_a_field_error(depth: int) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_message(TOPIC, deeply_nested_json(depth))
    assert caught.value.reason in ("not_json", "not_object")
