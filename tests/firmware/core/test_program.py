"""The home exercise program's bytes (firmware/core/program.py) and the day's progress."""

import struct
import zlib

import pytest

from firmware.core import program
from firmware.core.program import Progress, decode, decode_progress, encode

# squat 3 x 10, 90 degrees, 60 s rest; heel raise 2 x 15, no target, 30 s rest
ITEMS = [(1, 3, 10, 9000, 60), (4, 2, 15, 0, 30)]


def test_round_trip_and_accessors() -> None:
    data = encode(ITEMS, flags=program.FLAG_AUTO_START, utc_offset_min=-300)
    assert len(data) == 5 + 6 * 2 + 4
    p = decode(data)
    assert (p.count, p.flags, p.utc_offset_min, p.total_sets) == (2, 1, -300, 5)
    assert [(p.exercise(i), p.sets(i), p.reps(i), p.target_rom_cdeg(i), p.rest_s(i))
            for i in range(p.count)] == ITEMS
    assert p.crc == struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_layout_is_fixed() -> None:
    data = encode([(2, 3, 12, 4500, 90)], utc_offset_min=60)
    assert data[:11] == bytes((1, 1, 0, 60, 0, 2, 3, 12, 90, 0x94, 0x11))


def test_sets_are_located_over_all_items() -> None:
    p = decode(encode(ITEMS))
    assert [p.item_of(n) for n in range(6)] == [0, 0, 0, 1, 1, 2]
    assert [p.set_in_item(n) for n in range(6)] == [1, 2, 3, 1, 2, 0]


def test_empty_program_means_generic() -> None:
    p = decode(encode([]))
    assert p.count == 0 and p.total_sets == 0 and p.item_of(0) == 0


def test_largest_program_fits_one_write_at_the_minimum_mtu() -> None:
    data = encode([(1, 1, 1, 0, 0)] * program.MAX_ITEMS)
    assert len(data) == program.MAX_PROGRAM_BYTES
    assert 1 + len(data) <= 49 - 3  # opcode + program within ATT MTU 49


def _resealed(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("data, message", [
    (b"", "too short: 0 bytes"),
    (_resealed(bytes((2, 0, 0, 0, 0))), "version 2 not supported"),
    (_resealed(bytes((1, 7, 0, 0, 0)) + bytes(42)), "7 items, at most 6"),
    (_resealed(bytes((1, 2, 0, 0, 0)) + bytes((1, 1, 1, 0, 0, 0)))[:-1], "must be 21 bytes"),
    (encode(ITEMS)[:-1] + b"\x00", "CRC mismatch"),
    (_resealed(bytes((1, 0, 2, 0, 0))), "unknown bits"),
    (_resealed(bytes((1, 0, 0)) + struct.pack("<h", 900)), "UTC offset 900"),
    (_resealed(bytes((1, 1, 0, 0, 0, 1, 0, 10, 0, 0, 0))), "item 0: sets"),
    (_resealed(bytes((1, 1, 0, 0, 0, 1, 3, 0, 0, 0, 0))), "item 0: reps"),
    (_resealed(bytes((1, 1, 0, 0, 0, 1, 3, 5, 0)) + struct.pack("<H", 18001)), "ROM 18001"),
])
def test_malformed_bytes_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(data)


def test_encode_refuses_what_decode_would() -> None:
    with pytest.raises(ValueError, match="reps"):
        encode([(1, 3, 0, 0, 0)])
    with pytest.raises((ValueError, struct.error)):
        encode([(1, 300, 1, 0, 0)])


def test_progress_round_trip_and_corruption() -> None:
    p = Progress(0xDEADBEEF, 20300, 1_754_000_000, 4, program.PROGRESS_BATTERY_WARNED)
    data = p.encode()
    assert len(data) == program.PROGRESS_BYTES
    q = decode_progress(data)
    assert (q.program_crc, q.day, q.last_s, q.next_set, q.flags) == (
        0xDEADBEEF, 20300, 1_754_000_000, 4, 1)
    assert decode_progress(Progress().encode()).day == -1
    with pytest.raises(ValueError, match="CRC"):
        decode_progress(data[:-1] + bytes((data[-1] ^ 1,)))
    with pytest.raises(ValueError, match="19 bytes"):
        decode_progress(data[:10])
