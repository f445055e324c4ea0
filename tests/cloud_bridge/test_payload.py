import base64
import json

import pytest

from cloud_bridge.payload import CLOCK_SKEW_MS, PayloadError, parse_message
from cloud_bridge.records import REP_FIELDS, SET_FIELDS
from firmware.core import codec
from gateway import payload as gw_payload

DEV = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/home-1/{DEV}/records"
CLOCK = {"boot": 2, "uptime_ms": 100_000, "unix_ms": 1_790_000_100_000}


def rep(seq, t_ms, flags=codec.FLAG_TIME_VALID, boot=2):
    return bytes(codec.encode_rep(seq, flags, 1, 1, t_ms, boot, seq, 900, 4500, 80))


def message(raws, **override):
    body = json.loads(gw_payload.build("home-1", DEV, raws, CLOCK["boot"],
                                       CLOCK["uptime_ms"], CLOCK["unix_ms"]))
    body.update(override)
    return json.dumps(body).encode()


def test_gateway_message_round_trips_into_stored_records():
    raws = [rep(1, 1_790_000_000_000), bytes(codec.encode_set(2, codec.FLAG_TIME_VALID, 4, 1,
                                                              1_790_000_001_000, 2, 10, 1,
                                                              3000, 40, 9, 0))]
    parsed = parse_message(TOPIC, message(raws))
    assert parsed.rejected == []
    a, b = parsed.records
    assert (a.device_id, a.seq, a.kind, a.exercise, a.t_ms, a.time_valid) == (
        DEV, 1, "rep", "squat", 1_790_000_000_000, True)
    assert a.values == {"rep": 1, "duration_ms": 900, "rom_cdeg": 4500, "peak_dps": 80}
    assert b.kind == "set" and b.exercise == "heel_raise" and b.values["reps"] == 10


def test_records_from_before_the_clock_was_set_are_dated_exactly():
    parsed = parse_message(TOPIC, message([rep(1, 40_000, flags=0)]))
    r = parsed.records[0]
    assert r.time_valid and r.t_ms == CLOCK["unix_ms"] - (CLOCK["uptime_ms"] - 40_000)


def test_records_from_an_earlier_boot_are_flagged_not_misdated():
    r = parse_message(TOPIC, message([rep(1, 40_000, flags=0, boot=1)])).records[0]
    assert not r.time_valid and r.t_ms == CLOCK["unix_ms"]


DAY_MS = 86_400_000


def test_a_record_dated_after_it_reached_the_bridge_is_flagged_not_misdated():
    """The wearable's clock was set a day ahead at an earlier sync: its records arrive dated
    in the future of the bridge's receipt. Within the allowed skew they stay dated."""
    now = CLOCK["unix_ms"] + 60_000
    raws = [rep(1, now + DAY_MS), rep(2, now + CLOCK_SKEW_MS), rep(3, now - 3_600_000)]
    a, b, c = parse_message(TOPIC, message(raws), received_ms=now).records
    assert not a.time_valid and a.t_ms == CLOCK["unix_ms"]
    assert (b.time_valid, b.t_ms) == (True, now + CLOCK_SKEW_MS)
    assert (c.time_valid, c.t_ms) == (True, now - 3_600_000)
    assert parse_message(TOPIC, message(raws)).records[0].time_valid, "not checked without"


def test_a_gateway_clock_ahead_of_the_bridge_dates_nothing():
    """The message's clock is a day ahead of the bridge: records of the syncing boot are not
    dated from it but flagged, at the bridge's receipt."""
    now = CLOCK["unix_ms"] - DAY_MS
    r = parse_message(TOPIC, message([rep(1, 40_000, flags=0)]), received_ms=now).records[0]
    assert not r.time_valid and r.t_ms == now
    ok = parse_message(TOPIC, message([rep(1, 40_000, flags=0)]),
                       received_ms=CLOCK["unix_ms"] - CLOCK_SKEW_MS).records[0]
    assert ok.time_valid, "a clock ahead within the allowed skew still dates"


def test_a_bad_record_does_not_drop_the_good_ones():
    good = rep(1, 1_790_000_000_000)
    bad = bytearray(rep(2, 1_790_000_000_500))
    bad[9] ^= 0xFF
    body = json.loads(message([good]))
    body["records"] += [base64.b64encode(bytes(bad)).decode(), "!!notbase64", 42]
    parsed = parse_message(TOPIC, json.dumps(body).encode())
    assert [r.seq for r in parsed.records] == [1]
    assert len(parsed.rejected) == 3
    assert "CRC" in parsed.rejected[0] and "records[2]" in parsed.rejected[1]


@pytest.mark.parametrize("topic, payload, reason", [
    ("rtm/v1/home-1/XYZ/records", None, "bad_topic"),
    ("rtm/v1/home-1/a1b2c3d4e5f6/other", None, "bad_topic"),
    (TOPIC, b"\xff\xfe", "not_json"),
    (TOPIC, b"{", "not_json"),
    (TOPIC, b"[1,2]", "not_object"),
    (TOPIC, {"schema": "rtm.records.v9"}, "bad_schema"),
    (TOPIC, {"device": "000000000000"}, "topic_mismatch"),
    (TOPIC, {"clock": {"boot": 1, "uptime_ms": 5, "unix_ms": 3}}, "bad_field"),
    (TOPIC, {"clock": "now"}, "bad_field"),
    (TOPIC, {"records": []}, "bad_field"),
    (TOPIC, b" " * (1 << 20 + 1), "too_large"),
])
def test_malformed_messages_are_rejected_with_a_reason(topic, payload, reason):
    if payload is None or isinstance(payload, dict):
        payload = message([rep(1, 1_790_000_000_000)], **(payload or {}))
    with pytest.raises(PayloadError) as e:
        parse_message(topic, payload)
    assert e.value.reason == reason


@pytest.mark.parametrize("payload", [b"[" * 100_000, b'{"n": ' + b"9" * 5000 + b"}"])
def test_pathological_json_is_rejected_not_raised(payload):
    with pytest.raises(PayloadError) as e:
        parse_message(TOPIC, payload)
    assert e.value.reason == "not_json"


def test_a_record_dated_out_of_range_is_rejected_alone():
    far = rep(2, 9_000_000_000_000_000)  # year 2255: passes the CRC, not the range
    parsed = parse_message(TOPIC, message([rep(1, 1_790_000_000_000), far, rep(3,
                                           1_790_000_002_000)]))
    assert [r.seq for r in parsed.records] == [1, 3]
    assert len(parsed.rejected) == 1 and "outside 2020..2100" in parsed.rejected[0]


def test_every_record_the_codec_can_carry_passes_the_stores_check():
    """parse_message leaves check_record to the store because it holds by construction:
    any field values the codec encodes, any exercise code, any flags, any dated time in
    range. If a field or the exercise table ever changes that, this fails."""
    import random

    from cloud_bridge.stores.base import check_record

    rng = random.Random(5)
    raws = []
    for seq in range(1, 401):
        flags = rng.randrange(4)
        t_ms = (rng.randrange(1_600_000_000_000, 4_102_444_800_000) if flags & 1
                else rng.randrange(0, 100_000))
        exercise, set_no, boot = rng.randrange(256), rng.randrange(256), rng.randrange(65536)
        if rng.random() < 0.5:
            raws.append(bytes(codec.encode_rep(seq, flags, exercise, set_no, t_ms, boot,
                                               *(rng.randrange(65536) for _ in range(4)))))
        else:
            raws.append(bytes(codec.encode_set(seq, flags, exercise, set_no, t_ms, boot,
                                               *(rng.randrange(65536) for _ in range(4)),
                                               rng.randrange(256), rng.randrange(256))))
    parsed = parse_message(TOPIC, message(raws))
    assert parsed.rejected == [] and len(parsed.records) == 400
    for rec, raw in zip(parsed.records, raws, strict=True):
        check_record(rec)
        # and the values are the record's own, as the codec's decoder names them
        decoded = codec.decode(raw)
        names = REP_FIELDS if rec.kind == "rep" else SET_FIELDS
        assert rec.kind == decoded["kind"] and list(rec.values) == list(names)
        assert rec.values == {k: decoded[k] for k in names}
        assert (rec.seq, rec.set_no, rec.partial) == (
            decoded["seq"], decoded["set_no"], decoded["partial"])


def test_the_fast_constructor_makes_the_same_record():
    from dataclasses import FrozenInstanceError, replace

    from cloud_bridge.records import StoredRecord

    args = dict(device_id=DEV, seq=3, kind="rep", exercise="squat", set_no=1, t_ms=5,
                time_valid=True, partial=False, values={"rep": 1})
    fast, slow = StoredRecord.fast(**args), StoredRecord(**args)
    assert fast == slow and repr(fast) == repr(slow) and fast.key == (DEV, 3)
    assert replace(fast, seq=4) == replace(slow, seq=4)
    with pytest.raises(FrozenInstanceError):
        fast.seq = 9
