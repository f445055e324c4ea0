"""Property tests of the program encoding (firmware/core/program.py): programs round trip,
any bytes decode or raise ValueError naming the problem, and encode refuses with ValueError
what the wearable would refuse (never struct.error)."""

from __future__ import annotations

import binascii
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import program
from tests.fuzz_inputs import mutated_bytes

pytestmark = pytest.mark.chaos

U8 = st.integers(0, 255)
ITEMS = st.lists(st.tuples(U8, st.integers(1, 255), st.integers(1, 255), st.integers(0, 18000),
                           U8), max_size=program.MAX_ITEMS)
UTC_OFFSETS = st.integers(-720, 840)
FLAGS = st.sampled_from((0, program.FLAG_AUTO_START))
PROGRAM_REASONS = ("program too short", "program version", "program has", "program of",
                   "program CRC mismatch", "program flags", "UTC offset", "item ")


@st.composite
def valid_programs(draw: st.DrawFn) -> bytes:
    return program.encode(draw(ITEMS), draw(FLAGS), draw(UTC_OFFSETS))


def decode_or_reason(data: bytes) -> program.Program | None:
    try:
        return program.decode(data)
    except ValueError as e:
        assert type(e) is ValueError
        assert str(e).startswith(PROGRAM_REASONS), str(e)
        return None


@settings(max_examples=300)
@given(ITEMS, FLAGS, UTC_OFFSETS)
def test_a_program_round_trips(items: list[tuple[int, ...]], flags: int, utc: int) -> None:
    data = program.encode(items, flags, utc)
    assert program.MIN_PROGRAM_BYTES <= len(data) <= program.MAX_PROGRAM_BYTES
    decoded = program.decode(data)
    assert (decoded.count, decoded.flags, decoded.utc_offset_min) == (len(items), flags, utc)
    assert [(decoded.exercise(i), decoded.sets(i), decoded.reps(i), decoded.target_rom_cdeg(i),
             decoded.rest_s(i)) for i in range(decoded.count)] == [tuple(i) for i in items]
    assert decoded.total_sets == sum(i[1] for i in items)
    assert decoded.crc == binascii.crc32(data[:-4])


@settings(max_examples=400)
@given(st.binary(max_size=60))
def test_any_bytes_decode_or_raise_value_error_with_a_reason(data: bytes) -> None:
    decode_or_reason(data)


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=41).map(bytearray), st.integers(0, 8))
def test_sealed_random_bodies_are_judged_on_their_fields(body: bytearray, count: int) -> None:
    """Random bytes with the right version, length and CRC: the field checks run."""
    body[0] = program.PROGRAM_VERSION
    head = bytes(body[:5].ljust(5, b"\0"))
    head = head[:1] + bytes((count,)) + head[2:]
    items = bytes(body[5:]).ljust(6 * count, b"\0")[:6 * count]
    unsealed = head + items
    decode_or_reason(unsealed + struct.pack("<I", binascii.crc32(unsealed)))


@settings(max_examples=300)
@given(valid_programs().flatmap(mutated_bytes))
def test_mutated_programs_decode_or_raise_value_error(data: bytes) -> None:
    decode_or_reason(data)


@settings(max_examples=200)
@given(st.lists(st.tuples(*[st.integers(-70000, 70000)] * 5), max_size=8),
       st.integers(-70000, 70000), st.integers(-70000, 70000))
def test_encode_refuses_what_the_wearable_would_refuse_with_value_error(
        items: list[tuple[int, ...]], flags: int, utc: int) -> None:
    try:
        data = program.encode(items, flags, utc)
    except ValueError as e:
        assert type(e) is ValueError, repr(e)  # not struct.error, not a wrapped value
        return
    assert program.decode(data).count == len(items)


@settings(max_examples=200)
@given(st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**32 - 1),
       st.integers(0, 0xFFFF), U8)
def test_progress_round_trips(crc: int, day: int, last_s: int, next_set: int, flags: int) -> None:
    stored = program.Progress(crc, day, last_s, next_set, flags).encode()
    back = program.decode_progress(stored)
    assert (back.program_crc, back.day, back.last_s, back.next_set, back.flags) == (
        crc, day, last_s, next_set, flags)


@settings(max_examples=200)
@given(st.binary(max_size=30))
def test_any_bytes_are_progress_or_value_error(data: bytes) -> None:
    try:
        program.decode_progress(data)
    except ValueError as e:
        assert str(e).startswith(("progress must be", "progress CRC mismatch"))


def test_encode_with_an_exercise_code_above_a_byte_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="exercise"):
        program.encode([(256, 3, 10, 0, 30)])
    with pytest.raises(ValueError, match="UTC offset"):
        program.encode([], utc_offset_min=40000)
