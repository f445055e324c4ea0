"""The record: born on the wearable, kept in its flash log, sent over BLE, forwarded by the
gateway and decoded by the cloud bridge. This module is the only implementation of its bytes.

A record is 32 bytes, little-endian, the same in flash and on the air::

    off size field
      0    4 seq        u32, 1, 2, 3 ... per device, never reused
      4    1 kind       KIND_REP or KIND_SET
      5    1 flags      FLAG_TIME_VALID, FLAG_PARTIAL
      6    1 exercise   exercise code (0 = generic)
      7    1 set_no     set number within the day's session, from 1
      8    8 t_ms       Unix time in ms if FLAG_TIME_VALID, else ms since boot `boot`
     16    2 boot       boot counter of the wearable when the record was made
     18   10 payload    kind-specific, see below
     28    4 crc32      CRC-32 (IEEE, as binascii.crc32) of bytes 0..27

REP payload: rep u16 (index in set, from 1), duration_ms u16, rom_cdeg u16 (range of motion,
centidegrees), peak_dps u16 (peak angular speed, deg/s), reserved u16.
SET payload: reps u16 (full reps), partial u16, mean_rom_cdeg u16, duration_s u16,
tempo_cv_pct u8 (coefficient of variation of rep durations), rests u8.

Time is t_ms at the *end* of the rep or set. No patient identity is ever encoded.
"""

import binascii
import struct

from firmware.core.compat import const

RECORD_SIZE = const(32)
KIND_REP = const(1)
KIND_SET = const(2)
FLAG_TIME_VALID = const(0x01)
FLAG_PARTIAL = const(0x02)

_HEAD = "<IBBBBQH"  # seq, kind, flags, exercise, set_no, t_ms, boot: 18 bytes
_REP = "<HHHHH"  # rep, duration_ms, rom_cdeg, peak_dps, reserved
_SET = "<HHHHBB"  # reps, partial, mean_rom_cdeg, duration_s, tempo_cv_pct, rests
# A whole record of each kind, crc32 last (unpack)
_REP_RECORD = _HEAD + _REP[1:] + "I"
_SET_RECORD = _HEAD + _SET[1:] + "I"
_PAYLOAD_AT = const(18)
_CRC_AT = const(28)
_U16 = const(0xFFFF)


class CodecError(ValueError):
    """A record's bytes are not a valid record; the message says what is wrong."""


def _u16(value: int) -> int:
    # Saturate rather than wrap: a 70 s rep is reported as 65.535 s, not as 4.5 s.
    if value < 0:
        return 0
    return value if value < _U16 else _U16


def _seal(buf: bytearray) -> bytearray:
    struct.pack_into("<I", buf, _CRC_AT, binascii.crc32(memoryview(buf)[:_CRC_AT]) & 0xFFFFFFFF)
    return buf


def encode_rep(seq: int, flags: int, exercise: int, set_no: int, t_ms: int, boot: int,
               rep: int, duration_ms: int, rom_cdeg: int, peak_dps: int) -> bytearray:
    """Encode one repetition as a 32-byte record."""
    buf = bytearray(RECORD_SIZE)
    struct.pack_into(_HEAD, buf, 0, seq, KIND_REP, flags, exercise, set_no, t_ms, boot)
    struct.pack_into(_REP, buf, _PAYLOAD_AT, _u16(rep), _u16(duration_ms), _u16(rom_cdeg),
                     _u16(peak_dps), 0)
    return _seal(buf)


def encode_set(seq: int, flags: int, exercise: int, set_no: int, t_ms: int, boot: int,
               reps: int, partial: int, mean_rom_cdeg: int, duration_s: int,
               tempo_cv_pct: int, rests: int) -> bytearray:
    """Encode the summary of a finished set as a 32-byte record."""
    buf = bytearray(RECORD_SIZE)
    struct.pack_into(_HEAD, buf, 0, seq, KIND_SET, flags, exercise, set_no, t_ms, boot)
    struct.pack_into(_SET, buf, _PAYLOAD_AT, _u16(reps), _u16(partial), _u16(mean_rom_cdeg),
                     _u16(duration_s), min(max(tempo_cv_pct, 0), 255), min(max(rests, 0), 255))
    return _seal(buf)


def check(buf) -> None:
    """Raise CodecError unless `buf` holds exactly one intact record."""
    if len(buf) != RECORD_SIZE:
        raise CodecError("record must be %d bytes, got %d" % (RECORD_SIZE, len(buf)))
    stored = struct.unpack_from("<I", buf, _CRC_AT)[0]
    if binascii.crc32(memoryview(buf)[:_CRC_AT]) & 0xFFFFFFFF != stored:
        raise CodecError("record CRC mismatch")
    kind = buf[4]
    if kind != KIND_REP and kind != KIND_SET:
        raise CodecError("unknown record kind %d" % kind)
    if struct.unpack_from("<I", buf, 0)[0] == 0:
        raise CodecError("record sequence number 0 is reserved")


def seq_of(buf) -> int:
    """The sequence number of an encoded record (no checks)."""
    return struct.unpack_from("<I", buf, 0)[0]


def unpack(buf) -> tuple:
    """Check a record and return all its fields as one flat tuple: seq, kind, flags,
    exercise, set_no, t_ms, boot, then the kind's payload in the order of the docstring above
    (a rep's with its reserved u16), then the crc32. For a reader of many records (the
    bridge): one struct call and no dict per record. Not for the sample path."""
    if len(buf) == RECORD_SIZE:
        kind = buf[4]
        if kind == KIND_REP:
            fields = struct.unpack_from(_REP_RECORD, buf, 0)
        elif kind == KIND_SET:
            fields = struct.unpack_from(_SET_RECORD, buf, 0)
        else:
            fields = None
        if (fields is not None and fields[0] != 0
                and binascii.crc32(memoryview(buf)[:_CRC_AT]) & 0xFFFFFFFF == fields[-1]):
            return fields
    check(buf)  # says what is wrong, in the same order as always
    raise CodecError("record is not valid")  # unreachable: check() raised


def decode(buf) -> dict:
    """Check and decode a record into a dict of named fields (not for the sample path)."""
    check(buf)
    seq, kind, flags, exercise, set_no, t_ms, boot = struct.unpack_from(_HEAD, buf, 0)
    rec = {
        "seq": seq,
        "kind": "rep" if kind == KIND_REP else "set",
        "time_valid": bool(flags & FLAG_TIME_VALID),
        "partial": bool(flags & FLAG_PARTIAL),
        "exercise": exercise,
        "set_no": set_no,
        "t_ms": t_ms,
        "boot": boot,
    }
    if kind == KIND_REP:
        rep, duration_ms, rom_cdeg, peak_dps, _ = struct.unpack_from(_REP, buf, _PAYLOAD_AT)
        rec["rep"] = rep
        rec["duration_ms"] = duration_ms
        rec["rom_cdeg"] = rom_cdeg
        rec["peak_dps"] = peak_dps
    else:
        reps, partial, mean_rom, duration_s, tempo_cv, rests = struct.unpack_from(
            _SET, buf, _PAYLOAD_AT)
        rec["reps"] = reps
        rec["partial_reps"] = partial
        rec["mean_rom_cdeg"] = mean_rom
        rec["duration_s"] = duration_s
        rec["tempo_cv_pct"] = tempo_cv
        rec["rests"] = rests
    return rec
