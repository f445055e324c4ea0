"""Property tests of the batch tag (firmware/core/auth.py): the hand-written HMAC-SHA256
equals the standard library's for any key and message, however the message is fed, and the
batch tag covers exactly domain, device, log id and records."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import auth

pytestmark = pytest.mark.chaos

RECORDS = st.lists(st.binary(min_size=32, max_size=32), max_size=12)


@settings(max_examples=300)
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_equals_the_standard_library_for_any_key(key: bytes, msg: bytes) -> None:
    assert auth.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@settings(max_examples=200)
@given(st.binary(max_size=100), st.lists(st.binary(max_size=40), max_size=8))
def test_feeding_in_pieces_equals_feeding_at_once(key: bytes, pieces: list[bytes]) -> None:
    h = auth.Hmac(key)
    for piece in pieces:
        h.update(piece)
    assert h.digest() == auth.hmac_sha256(key, b"".join(pieces))


@settings(max_examples=200)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=6, max_size=6),
       st.integers(0, 2**32 - 1), RECORDS)
def test_the_batch_tag_is_the_hmac_of_header_and_records(
        secret: bytes, device_id: bytes, log_id: int, records: list[bytes]) -> None:
    message = auth.BATCH_DOMAIN + device_id + struct.pack("<I", log_id) + b"".join(records)
    tag = auth.batch_tag(secret, device_id, log_id, records)
    assert len(tag) == auth.TAG_SIZE
    assert tag == hmac.new(secret, message, hashlib.sha256).digest()


@settings(max_examples=200)
@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1),
       RECORDS.filter(lambda r: len(r) >= 2), st.data())
def test_any_change_to_the_batch_changes_the_tag(
        secret: bytes, log_id: int, records: list[bytes], data: st.DataObject) -> None:
    device_id = bytes(range(6))
    tag = auth.batch_tag(secret, device_id, log_id, records)
    changed = data.draw(st.sampled_from(("dropped", "swapped", "log_id", "byte")))
    other = list(records)
    other_log_id = log_id
    if changed == "dropped":
        del other[data.draw(st.integers(0, len(other) - 1))]
    elif changed == "swapped":
        other[0], other[1] = other[1], other[0]
    elif changed == "log_id":
        other_log_id = log_id ^ 1
    else:
        i = data.draw(st.integers(0, len(other) - 1))
        flipped = bytearray(other[i])
        flipped[data.draw(st.integers(0, 31))] ^= 1
        other[i] = bytes(flipped)
    if other == records and other_log_id == log_id:
        return  # swapping two equal records changes nothing
    assert auth.batch_tag(secret, device_id, other_log_id, other) != tag


@settings(max_examples=50)
@given(st.binary(max_size=12).filter(lambda b: len(b) != 6))
def test_a_device_id_of_another_length_is_a_value_error(device_id: bytes) -> None:
    with pytest.raises(ValueError, match="device id must be 6 bytes"):
        auth.batch_tag(bytes(32), device_id, 0, [])
