"""Property tests of the record codec (firmware/core/codec.py): every field value round
trips, and any bytes either decode or raise CodecError with a reason; nothing else escapes."""

from __future__ import annotations

import binascii
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import codec
from tests.fuzz_inputs import mutated_bytes

pytestmark = pytest.mark.chaos

U8 = st.integers(min_value=0, max_value=0xFF)
U16 = st.integers(min_value=0, max_value=0xFFFF)
SEQ = st.integers(min_value=1, max_value=0xFFFFFFFF)
T_MS = st.integers(min_value=0, max_value=2**64 - 1)
# Values the encoder saturates to u16 (a 70 s rep is 65535 ms, never 4465 ms).
ANY_INT = st.integers(min_value=-(2**20), max_value=2**20)

CODEC_REASONS = ("record must be", "record CRC mismatch", "unknown record kind",
                 "record sequence number 0")


def saturated(value: int, top: int) -> int:
    return min(max(value, 0), top)


@st.composite
def rep_fields(draw: st.DrawFn) -> tuple[int, ...]:
    return (draw(SEQ), draw(U8), draw(U8), draw(U8), draw(T_MS), draw(U16), draw(ANY_INT),
            draw(ANY_INT), draw(ANY_INT), draw(ANY_INT))


@st.composite
def set_fields(draw: st.DrawFn) -> tuple[int, ...]:
    return (draw(SEQ), draw(U8), draw(U8), draw(U8), draw(T_MS), draw(U16), draw(ANY_INT),
            draw(ANY_INT), draw(ANY_INT), draw(ANY_INT), draw(st.integers(-300, 600)),
            draw(st.integers(-300, 600)))


@st.composite
def valid_records(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return bytes(codec.encode_rep(*draw(rep_fields())))
    return bytes(codec.encode_set(*draw(set_fields())))


def assert_codec_reason(error: codec.CodecError) -> None:
    assert str(error).startswith(CODEC_REASONS), str(error)


@settings(max_examples=300)
@given(rep_fields())
def test_a_rep_round_trips_through_decode_and_unpack(fields: tuple[int, ...]) -> None:
    seq, flags, exercise, set_no, t_ms, boot, rep, duration_ms, rom_cdeg, peak_dps = fields
    raw = codec.encode_rep(*fields)
    assert len(raw) == codec.RECORD_SIZE
    decoded = codec.decode(raw)
    assert decoded == {
        "seq": seq, "kind": "rep", "time_valid": bool(flags & codec.FLAG_TIME_VALID),
        "partial": bool(flags & codec.FLAG_PARTIAL), "exercise": exercise, "set_no": set_no,
        "t_ms": t_ms, "boot": boot, "rep": saturated(rep, 0xFFFF),
        "duration_ms": saturated(duration_ms, 0xFFFF), "rom_cdeg": saturated(rom_cdeg, 0xFFFF),
        "peak_dps": saturated(peak_dps, 0xFFFF)}
    crc = binascii.crc32(bytes(raw[:28]))
    assert codec.unpack(raw) == (seq, codec.KIND_REP, flags, exercise, set_no, t_ms, boot,
                                 decoded["rep"], decoded["duration_ms"], decoded["rom_cdeg"],
                                 decoded["peak_dps"], 0, crc)
    assert codec.seq_of(raw) == seq


@settings(max_examples=300)
@given(set_fields())
def test_a_set_round_trips_through_decode_and_unpack(fields: tuple[int, ...]) -> None:
    (seq, flags, exercise, set_no, t_ms, boot, reps, partial, mean_rom, duration_s, tempo_cv,
     rests) = fields
    raw = codec.encode_set(*fields)
    decoded = codec.decode(raw)
    assert decoded == {
        "seq": seq, "kind": "set", "time_valid": bool(flags & codec.FLAG_TIME_VALID),
        "partial": bool(flags & codec.FLAG_PARTIAL), "exercise": exercise, "set_no": set_no,
        "t_ms": t_ms, "boot": boot, "reps": saturated(reps, 0xFFFF),
        "partial_reps": saturated(partial, 0xFFFF),
        "mean_rom_cdeg": saturated(mean_rom, 0xFFFF),
        "duration_s": saturated(duration_s, 0xFFFF), "tempo_cv_pct": saturated(tempo_cv, 255),
        "rests": saturated(rests, 255)}
    assert codec.unpack(raw)[:7] == (seq, codec.KIND_SET, flags, exercise, set_no, t_ms, boot)
    assert codec.unpack(raw)[7:13] == tuple(decoded[k] for k in (
        "reps", "partial_reps", "mean_rom_cdeg", "duration_s", "tempo_cv_pct", "rests"))


def decode_or_reason(raw: bytes) -> dict | None:
    """decode's answer, or None after checking that unpack and check agree it is bad."""
    try:
        decoded = codec.decode(raw)
    except codec.CodecError as e:
        assert_codec_reason(e)
        with pytest.raises(codec.CodecError) as from_unpack:
            codec.unpack(raw)
        assert str(from_unpack.value) == str(e)  # same reason, same order of checks
        with pytest.raises(codec.CodecError):
            codec.check(raw)
        return None
    assert codec.unpack(raw)[0] == decoded["seq"]
    codec.check(raw)
    return decoded


@settings(max_examples=500)
@given(st.binary(min_size=32, max_size=32))
def test_any_32_bytes_decode_or_raise_codec_error_with_a_reason(raw: bytes) -> None:
    decode_or_reason(raw)


@settings(max_examples=300)
@given(st.binary(min_size=28, max_size=28), st.integers(min_value=0, max_value=255))
def test_32_bytes_with_a_good_crc_are_judged_on_kind_and_seq(body: bytes, kind: int) -> None:
    """Random bytes almost never pass the CRC; seal them so the later checks run too."""
    head = bytearray(body)
    head[4] = kind
    raw = bytes(head) + struct.pack("<I", binascii.crc32(bytes(head)))
    decoded = decode_or_reason(raw)
    valid = kind in (codec.KIND_REP, codec.KIND_SET) and codec.seq_of(raw) != 0
    assert (decoded is not None) == valid


@settings(max_examples=300)
@given(st.binary(max_size=100).filter(lambda b: len(b) != 32))
def test_any_other_length_is_rejected_by_its_length(raw: bytes) -> None:
    with pytest.raises(codec.CodecError, match=f"record must be 32 bytes, got {len(raw)}"):
        codec.decode(raw)
    with pytest.raises(codec.CodecError, match="record must be 32 bytes"):
        codec.unpack(raw)


@settings(max_examples=300)
@given(valid_records(), st.integers(min_value=0, max_value=32 * 8 - 1))
def test_every_single_bit_flip_is_detected(raw: bytes, bit: int) -> None:
    broken = bytearray(raw)
    broken[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(codec.CodecError) as caught:
        codec.decode(bytes(broken))
    assert_codec_reason(caught.value)


@settings(max_examples=300)
@given(valid_records().flatmap(mutated_bytes))
def test_mutated_records_decode_or_raise_codec_error(raw: bytes) -> None:
    decode_or_reason(raw)


@settings(max_examples=100)
@given(valid_records())
def test_memoryview_and_bytearray_decode_like_bytes(raw: bytes) -> None:
    assert codec.decode(bytearray(raw)) == codec.decode(memoryview(raw)) == codec.decode(raw)
