"""Validating one MQTT message from a gateway into StoredRecords (contract: docs/mqtt.md).

Nothing from the network is trusted: the topic, the JSON and every record are checked, and
each problem is reported with a reason that names it. A bad record does not take the good
records of its message down with it: they are returned separately.

A message may carry the wearable's batch tag (`mac`, over `log_id` and the records as
sent); `verify` checks it against a device's secret. Whether a tag is required, and what a
failure means, is the subscriber's decision (it knows the device keys).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import CheckedRecords
from firmware.core import auth, codec
from firmware.core.exercises import name_of

SCHEMA = "rtm.records.v1"
TOPIC_FILTER = "rtm/v1/+/+/records"
MAX_PAYLOAD_BYTES = 1 << 20
MAX_RECORDS = 1024
_TOPIC = re.compile(r"^rtm/v1/([A-Za-z0-9_-]{1,64})/([0-9a-f]{12})/records$")
_EARLIEST_UNIX_MS = 1_600_000_000_000  # Sept 2020: before this project existed
_LATEST_UNIX_MS = 4_102_444_800_000  # 2100-01-01: a clock beyond this is broken
# How far the bridge's clock and a gateway's may differ (both kept by NTP: milliseconds),
# with the seconds a sync takes (records made during it) to spare. A record dated later
# than its receipt plus this is mis-dated; a message's clock later than that was ahead.
CLOCK_SKEW_MS = 300_000


class PayloadError(ValueError):
    """The whole message is unusable; `reason` is a short category for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class ParsedMessage:
    gateway_id: str
    device_id: str
    records: list[StoredRecord]
    rejected: list[str] = field(default_factory=list)  # one reason per bad record
    # What the batch tag covers: every record's bytes as sent (None where an item was not
    # base64), the record log's id and the tag itself; None when the message has none.
    raw_records: list[bytes | None] = field(default_factory=list)
    log_id: int | None = None
    mac: bytes | None = None
    _digests: dict[int, bytes] | None = None

    def digests(self) -> dict[int, bytes]:
        """seq -> digest of the record's bytes (record_digest) for every record
        whose bytes were readable; made once."""
        if self._digests is None:
            # record_digest, inlined: this runs for every record the bridge verifies. Bytes
            # too short to hold a seq name no record.
            self._digests = {
                _SEQ.unpack_from(raw)[0]: _blake2b(raw, digest_size=RECORD_DIGEST_SIZE).digest()
                for raw in self.raw_records if raw is not None and len(raw) >= _SEQ.size}
        return self._digests


RECORD_DIGEST_SIZE = 8
_SEQ = struct.Struct("<I")  # a record's first field: its seq
_blake2b = hashlib.blake2b


def record_digest(raw: bytes) -> bytes:
    """What the bridge keeps of a verified record's bytes: enough to tell a replay (same
    bytes) from a conflict (other bytes under the same seq)."""
    return hashlib.blake2b(raw, digest_size=RECORD_DIGEST_SIZE).digest()


def _int_field(obj: dict[str, Any], key: str, lo: int, hi: int, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise PayloadError("bad_field", f"{where}{key} must be an integer in {lo}..{hi}, "
                                        f"got {value!r}")
    return value


def _rep_values(f: tuple) -> dict[str, int]:
    return {"rep": f[7], "duration_ms": f[8], "rom_cdeg": f[9], "peak_dps": f[10]}


def _set_values(f: tuple) -> dict[str, int]:
    return {"reps": f[7], "partial_reps": f[8], "mean_rom_cdeg": f[9], "duration_s": f[10],
            "tempo_cv_pct": f[11], "rests": f[12]}


# kind code -> (kind name, its values from codec.unpack's fields): literal dicts, the
# cheapest to make (tests/cloud_bridge/test_payload.py holds them to REP_/SET_FIELDS)
_KINDS = {codec.KIND_REP: ("rep", _rep_values), codec.KIND_SET: ("set", _set_values)}


# Every code a record's exercise byte can hold, named once.
_EXERCISE_NAMES = tuple(name_of(code) for code in range(256))


@dataclass(frozen=True, slots=True)
class _Dating:
    """How a message's records are dated, worked out once per message: the wearable's
    clock as the gateway saw it at the sync, and what the bridge's own clock allows."""

    boot: int
    uptime_ms: int
    unix_ms: int  # the gateway's Unix time at the sync
    # The sync's best known time: unix_ms, or the bridge's receipt when the gateway's clock
    # was ahead of it (then nothing may be dated from the message's clock).
    sync_ms: int
    clock_trusted: bool
    latest_ms: int | None  # no record can have been made after it; None: not checked

    @classmethod
    def of(cls, boot: int, uptime_ms: int, unix_ms: int, received_ms: int | None) -> _Dating:
        latest_ms = None if received_ms is None else received_ms + CLOCK_SKEW_MS
        if latest_ms is not None and unix_ms > latest_ms:
            return cls(boot, uptime_ms, unix_ms, latest_ms - CLOCK_SKEW_MS, False, latest_ms)
        return cls(boot, uptime_ms, unix_ms, unix_ms, True, latest_ms)


def _to_stored(device_id: str, fields: tuple, dating: _Dating) -> StoredRecord:
    """A StoredRecord from codec.unpack's fields."""
    flags, t_ms = fields[2], fields[5]
    time_valid = flags & codec.FLAG_TIME_VALID != 0
    if not time_valid:
        if dating.clock_trusted and fields[6] == dating.boot and t_ms <= dating.uptime_ms:
            # Made after the last boot, before the time was set: the gateway saw this
            # boot's uptime and the Unix time together, so the date is exact.
            t_ms = dating.unix_ms - (dating.uptime_ms - t_ms)
            time_valid = True
        else:
            # From an earlier boot (or dated by a gateway clock found ahead): its time
            # cannot be known. Kept, dated at the sync and flagged, never silently
            # mis-dated.
            t_ms = dating.sync_ms
    elif dating.latest_ms is not None and t_ms > dating.latest_ms:
        # Dated after it reached the bridge: the wearable's clock was set ahead (a gateway
        # clock wrong at an earlier sync). Flagged, not put on a day it did not happen on.
        t_ms, time_valid = dating.sync_ms, False
    kind_name, values = _KINDS[fields[1]]
    return StoredRecord.fast(device_id, fields[0], kind_name, _EXERCISE_NAMES[fields[3]],
                             fields[4], t_ms, time_valid, flags & codec.FLAG_PARTIAL != 0,
                             values(fields))


def json_envelope(topic_re: re.Pattern[str], shape: str, topic: str, payload: bytes,
                  max_bytes: int, schema: str,
                  error: type[PayloadError] = PayloadError) -> tuple[str, str, dict[str, Any]]:
    """(gateway id, device id, body) of a gateway's JSON message on
    rtm/v1/<gateway>/<device>/...: the topic, size, JSON, schema and the body's gateway and
    device (which must repeat the topic's) checked; `error` says what is wrong."""
    m = topic_re.match(topic)
    if not m:
        raise error("bad_topic", f"topic {topic!r} is not {shape}")
    gateway_id, device_id = m.group(1), m.group(2)
    if len(payload) > max_bytes:
        raise error("too_large", f"{len(payload)} bytes, limit {max_bytes}")
    try:
        body = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise error("not_json", f"payload is not UTF-8 text ({e})") from None
    except json.JSONDecodeError as e:
        raise error("not_json", f"payload is not JSON ({e})") from None
    except (ValueError, RecursionError) as e:
        # Nesting too deep, or an integer too long to convert: still not our JSON.
        raise error("not_json", f"payload is not usable JSON ({type(e).__name__})") from None
    if not isinstance(body, dict):
        raise error("not_object", f"payload is a JSON {type(body).__name__}")
    if body.get("schema") != schema:
        raise error("bad_schema", f"schema {body.get('schema')!r}, expected {schema!r}")
    if body.get("gateway") != gateway_id or body.get("device") != device_id:
        raise error("topic_mismatch", f"payload gateway/device "
                    f"{body.get('gateway')!r}/{body.get('device')!r} differ from topic")
    return gateway_id, device_id, body


def parse_message(topic: str, payload: bytes, received_ms: int | None = None) -> ParsedMessage:
    """The message's records, dated (docs/protocol.md, "Time"). With `received_ms`, the
    bridge's Unix ms when it took the message: a record dated after it (CLOCK_SKEW_MS
    allowed) is flagged undated, and a message whose clock is after it dates nothing."""
    gateway_id, device_id, body = json_envelope(
        _TOPIC, "rtm/v1/<gateway>/<device>/records", topic, payload, MAX_PAYLOAD_BYTES, SCHEMA)
    clock_obj = body.get("clock")
    if not isinstance(clock_obj, dict):
        raise PayloadError("bad_field", "clock must be an object")
    dating = _Dating.of(
        _int_field(clock_obj, "boot", 0, 0xFFFF, "clock."),
        _int_field(clock_obj, "uptime_ms", 0, 2**63, "clock."),
        _int_field(clock_obj, "unix_ms", _EARLIEST_UNIX_MS, _LATEST_UNIX_MS, "clock."),
        received_ms)
    raw_records = body.get("records")
    if not isinstance(raw_records, list) or not raw_records:
        raise PayloadError("bad_field", "records must be a non-empty list")
    if len(raw_records) > MAX_RECORDS:
        raise PayloadError("too_large", f"{len(raw_records)} records, limit {MAX_RECORDS}")
    parsed = ParsedMessage(gateway_id, device_id, CheckedRecords())
    if body.get("log_id") is not None:
        parsed.log_id = _int_field(body, "log_id", 0, 0xFFFFFFFF, "")
    parsed.mac = _mac(body.get("mac"))
    if parsed.mac is not None and parsed.log_id is None:
        raise PayloadError("bad_field", "a mac needs the log_id it covers")
    for i, item in enumerate(raw_records):
        raw: bytes | None = None
        try:
            if not isinstance(item, str):
                raise ValueError("not a base64 string")
            raw = binascii.a2b_base64(item, strict_mode=True)
            parsed.raw_records.append(raw)
            stored = _to_stored(device_id, codec.unpack(raw), dating)
            if not _EARLIEST_UNIX_MS <= stored.t_ms <= _LATEST_UNIX_MS:
                raise ValueError(f"seq {stored.seq} dated {stored.t_ms} ms, outside 2020..2100")
            # No check_record, here or in the store (CheckedRecords): every field is the
            # codec's fixed-width unsigned, a name from the exercise table or the topic's
            # device id, and t_ms is in range, so it holds by construction
            # (tests/cloud_bridge/test_payload.py checks that it does).
            parsed.records.append(stored)
        except (ValueError, binascii.Error) as e:
            if raw is None:
                parsed.raw_records.append(None)
            parsed.rejected.append(f"records[{i}]: {e}")
    return parsed


def fixed_bytes_field(value: object, name: str, size: int,
                      error: type[PayloadError] = PayloadError) -> bytes:
    """A base64 JSON string holding exactly `size` bytes (a tag, a key); `error` says what
    is wrong with it, naming the field."""
    try:
        if not isinstance(value, str):
            raise ValueError("missing or not a string")
        raw = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as e:
        raise error("bad_field", f"{name} must be base64: {e}") from None
    if len(raw) != size:
        raise error("bad_field", f"{name} must be {size} bytes, got {len(raw)}")
    return raw


def _mac(value: object) -> bytes | None:
    return None if value is None else fixed_bytes_field(value, "mac", auth.TAG_SIZE)


def verify(parsed: ParsedMessage, device_id: str, secret: bytes) -> bool:
    """Whether the message's tag was made with `secret` by wearable `device_id` over exactly
    these records (bytes, order, count) and log id. Constant-time comparison."""
    if parsed.mac is None or parsed.log_id is None or None in parsed.raw_records:
        return False
    expected = auth.batch_tag(secret, bytes.fromhex(device_id), parsed.log_id,
                              parsed.raw_records)
    return hmac.compare_digest(expected, parsed.mac)
