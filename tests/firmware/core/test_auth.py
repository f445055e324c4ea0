"""HMAC-SHA256 written out for MicroPython (firmware/core/auth.py), and the batch tag the
wearable appends to FETCH end: checked against Python's hmac module, and the same vectors
and frames under the real MicroPython interpreter."""

import hashlib
import hmac
import struct

import pytest

from firmware.core import auth, codec, protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog

KEYS = [b"", b"k", bytes(range(1, 33)), bytes(range(64)), bytes(range(65)), bytes(200)]
MESSAGES = [b"", b"abc", bytes(range(256)) * 3]
SECRET = bytes(range(1, 33))
DEVICE = bytes(range(1, 7))
T0 = 1_790_000_000_000


@pytest.mark.parametrize("key", KEYS, ids=[f"key{len(k)}" for k in KEYS])
@pytest.mark.parametrize("msg", MESSAGES, ids=[f"msg{len(m)}" for m in MESSAGES])
def test_hmac_matches_the_standard_library(key: bytes, msg: bytes) -> None:
    assert auth.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_rfc4231_case_2() -> None:
    tag = auth.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert tag.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def rep(seq: int) -> bytes:
    return bytes(codec.encode_rep(seq, codec.FLAG_TIME_VALID, 1, 1, T0 + seq, 1, seq, 900,
                                  4000, 80))


def test_batch_tag_covers_domain_device_log_and_records_in_order() -> None:
    records = [rep(1), rep(2), rep(3)]
    msg = auth.BATCH_DOMAIN + DEVICE + struct.pack("<I", 0xA1B2C3D4) + b"".join(records)
    tag = auth.batch_tag(SECRET, DEVICE, 0xA1B2C3D4, records)
    assert tag == hmac.new(SECRET, msg, hashlib.sha256).digest()
    assert auth.batch_tag(SECRET, DEVICE, 0xA1B2C3D5, records) != tag
    assert auth.batch_tag(SECRET, bytes(range(2, 8)), 0xA1B2C3D4, records) != tag
    assert auth.batch_tag(SECRET, DEVICE, 0xA1B2C3D4, records[::-1]) != tag
    assert auth.batch_tag(SECRET, DEVICE, 0xA1B2C3D4, records[:2]) != tag


def handler(secret):
    log = RecordLog(MemoryStorage(64 + 32 * 16), 0x1234)
    h = protocol.ProtocolHandler(log, DeviceClock(log.new_boot()), DEVICE, lambda: 5000,
                                 lambda: 64, max_notify_payload=2 + 2 * 32, secret=secret)
    base = log.last_seq  # a new log's seqs start from its id's low bits
    for seq in range(base + 1, base + 6):
        log.append(rep(seq))
    return h, log


def test_fetch_end_carries_the_tag_of_exactly_the_records_sent() -> None:
    h, log = handler(SECRET)
    base = log.last_seq - 5
    frames = h.on_write(protocol.cmd_fetch(base + 2, 3))
    assert len(frames[-1]) == 2 + protocol.FETCH_END_SIGNED_SIZE <= protocol.MIN_NOTIFY_PAYLOAD
    records = [r for f in frames[:-1] for r in protocol.split_records(f)]
    sent, last, tag = protocol.parse_fetch_end(frames[-1])
    assert (sent, last) == (3, base + 4)
    assert [codec.seq_of(r) - base for r in records] == [2, 3, 4]
    assert tag == auth.batch_tag(SECRET, DEVICE, log.log_id, records)


def test_fetch_end_without_a_secret_is_unchanged() -> None:
    h, log = handler(None)
    frames = h.on_write(protocol.cmd_fetch(1, 10))
    assert len(frames[-1]) == 2 + protocol.FETCH_END_SIZE
    assert protocol.parse_fetch_end(frames[-1]) == (5, log.last_seq, None)


def test_a_secret_provisioned_now_signs_the_next_fetch() -> None:
    h, log = handler(None)
    h.on_secret = lambda s: None
    assert h.on_write(protocol.cmd_set_secret(SECRET)) == [b"\x86\x00"]
    frames = h.on_write(protocol.cmd_fetch(1, 10))
    records = [r for f in frames[:-1] for r in protocol.split_records(f)]
    assert protocol.parse_fetch_end(frames[-1])[2] == auth.batch_tag(SECRET, DEVICE,
                                                                     log.log_id, records)


def test_an_empty_fetch_is_signed_too() -> None:
    h, log = handler(SECRET)
    frames = h.on_write(protocol.cmd_fetch(log.last_seq + 1, 10))
    assert protocol.parse_fetch_end(frames[-1]) == (
        0, 0, auth.batch_tag(SECRET, DEVICE, log.log_id, []))


@pytest.mark.parametrize("body_len", [5, 7, 37, 39])
def test_a_fetch_end_of_another_length_is_refused(body_len: int) -> None:
    with pytest.raises(protocol.ProtocolError, match="6 or 38"):
        protocol.parse_fetch_end(b"\x83\x00" + bytes(body_len))


# Under MicroPython: the same program prints the same hex as under CPython.
_PROGRAM = """
from firmware.core import auth, codec, protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog

def hexs(b):
    return "".join("%02x" % x for x in b)

for key in (b"", b"k", bytes(range(1, 33)), bytes(range(64)), bytes(range(65)), bytes(200)):
    for msg in (b"", b"abc", bytes(range(256)) * 3):
        print("hmac", len(key), len(msg), hexs(auth.hmac_sha256(key, msg)))
_a_log = RecordLog(MemoryStorage(64 + 32 * 16), 0x1234)
_a_h = protocol.ProtocolHandler(_a_log, DeviceClock(_a_log.new_boot()), bytes(range(1, 7)),
                                lambda: 5000, lambda: 64, max_notify_payload=66,
                                secret=bytes(range(1, 33)))
_a_base = _a_log.last_seq
for seq in range(_a_base + 1, _a_base + 6):
    _a_log.append(codec.encode_rep(seq, 1, 1, 1, 1790000000000 + seq, 1, seq, 900, 4000, 80))
for _a_frame in _a_h.on_write(protocol.cmd_fetch(_a_base + 2, 3)):
    print("frame", hexs(_a_frame))
_a_h.secret = None
print("unsigned", hexs(_a_h.on_write(protocol.cmd_fetch(1, 10))[-1]))
"""


@pytest.mark.micropython
def test_the_same_tags_and_frames_under_micropython(micropython) -> None:
    cpython: list[str] = []
    for key in KEYS:
        for msg in MESSAGES:
            cpython.append(f"hmac {len(key)} {len(msg)} {auth.hmac_sha256(key, msg).hex()}")
    h, log = handler(SECRET)
    base = log.last_seq - 5
    cpython += [f"frame {f.hex()}" for f in h.on_write(protocol.cmd_fetch(base + 2, 3))]
    h.secret = None
    cpython.append(f"unsigned {h.on_write(protocol.cmd_fetch(1, 10))[-1].hex()}")
    assert micropython.run(_PROGRAM).split("\n")[:-1] == cpython
