import pytest

from firmware.core import codec


def test_rep_round_trip():
    raw = codec.encode_rep(7, codec.FLAG_TIME_VALID | codec.FLAG_PARTIAL, 4, 2, 1790000000123,
                           3, 5, 2500, 8512, 140)
    assert len(raw) == codec.RECORD_SIZE
    rec = codec.decode(raw)
    assert rec == {"seq": 7, "kind": "rep", "time_valid": True, "partial": True, "exercise": 4,
                   "set_no": 2, "t_ms": 1790000000123, "boot": 3, "rep": 5,
                   "duration_ms": 2500, "rom_cdeg": 8512, "peak_dps": 140}


def test_set_round_trip():
    raw = codec.encode_set(8, 0, 10, 1, 98765, 3, 12, 1, 9000, 61, 7, 1)
    rec = codec.decode(raw)
    assert (rec["kind"], rec["reps"], rec["partial_reps"], rec["mean_rom_cdeg"],
            rec["duration_s"], rec["tempo_cv_pct"], rec["rests"]) == ("set", 12, 1, 9000, 61, 7, 1)
    assert rec["time_valid"] is False


def test_unpack_gives_decodes_fields_as_one_flat_tuple():
    rep = codec.encode_rep(7, codec.FLAG_TIME_VALID, 4, 2, 1790000000123, 3, 5, 2500, 8512, 140)
    crc = int.from_bytes(rep[28:], "little")
    assert codec.unpack(rep) == (7, codec.KIND_REP, codec.FLAG_TIME_VALID, 4, 2, 1790000000123,
                                 3, 5, 2500, 8512, 140, 0, crc)
    st = codec.encode_set(8, codec.FLAG_PARTIAL, 10, 1, 98765, 3, 12, 1, 9000, 61, 7, 1)
    crc = int.from_bytes(st[28:], "little")
    assert codec.unpack(st) == (8, codec.KIND_SET, codec.FLAG_PARTIAL, 10, 1, 98765, 3,
                                12, 1, 9000, 61, 7, 1, crc)


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda r: r[:10] + bytes([r[10] ^ 1]) + r[11:], "CRC mismatch"),
    (lambda r: r[:31], "must be 32 bytes, got 31"),
    (lambda r: r + b"\0", "must be 32 bytes, got 33"),
    (lambda r: bytes(codec._seal(bytearray(r[:4] + b"\x07" + r[5:]))), "unknown record kind 7"),
    (lambda r: r[:4] + b"\x07" + r[5:], "CRC mismatch"),  # CRC is checked first, as check()
    (lambda r: bytes(codec._seal(bytearray(b"\0\0\0\0" + r[4:]))), "sequence number 0"),
])
def test_unpack_refuses_what_check_refuses_with_its_reason(damage, reason):
    rep = bytes(codec.encode_rep(7, codec.FLAG_TIME_VALID, 4, 2, 1790000000123, 3, 5, 2500,
                                 8512, 140))
    bad = damage(rep)
    with pytest.raises(codec.CodecError, match=reason):
        codec.check(bad)
    with pytest.raises(codec.CodecError, match=reason):
        codec.unpack(bad)


def test_golden_bytes_do_not_change():
    # The wire format is a contract with deployed wearables: this vector must never change.
    raw = codec.encode_rep(7, codec.FLAG_TIME_VALID, 1, 2, 1790000000123, 3, 4, 2500, 8512, 140)
    assert raw.hex() == "07000000010101027b6c50c4a001000003000400c40940218c000000eab794a8"


def test_out_of_range_values_saturate():
    rec = codec.decode(codec.encode_rep(1, 0, 0, 1, 0, 0, 70000, -5, 0, 0))
    assert rec["rep"] == 0xFFFF and rec["duration_ms"] == 0


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:31], "must be 32 bytes, got 31"),
    (lambda b: b + b"\0", "must be 32 bytes, got 33"),
    (lambda b: b[:10] + bytes([b[10] ^ 1]) + b[11:], "CRC mismatch"),
])
def test_corrupt_records_are_rejected_with_a_reason(mutate, message):
    raw = bytes(codec.encode_rep(1, 0, 0, 1, 0, 0, 1, 1, 1, 1))
    with pytest.raises(codec.CodecError, match=message):
        codec.decode(mutate(raw))


def test_unknown_kind_and_zero_seq_rejected():
    import binascii
    import struct

    def reseal(buf):
        struct.pack_into("<I", buf, 28, binascii.crc32(bytes(buf[:28])))
        return bytes(buf)

    buf = bytearray(codec.encode_rep(1, 0, 0, 1, 0, 0, 1, 1, 1, 1))
    buf[4] = 9
    with pytest.raises(codec.CodecError, match="unknown record kind 9"):
        codec.check(reseal(buf))
    buf = bytearray(codec.encode_rep(1, 0, 0, 1, 0, 0, 1, 1, 1, 1))
    buf[0] = 0
    with pytest.raises(codec.CodecError, match="sequence number 0"):
        codec.check(reseal(buf))
