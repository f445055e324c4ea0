"""The advertisement state (firmware/core/advert.py): what a scanning gateway learns before
connecting. Same bytes on CPython and under MicroPython."""

import pytest

from firmware.core import advert


def test_encode_is_version_flags_and_count_little_endian() -> None:
    assert advert.encode(True, 0x1234) == b"\x01\x01\x34\x12"
    assert advert.encode(False, 0) == b"\x01\x00\x00\x00"
    assert advert.manufacturer(False, 7) == (0xFFFF, b"\x01\x00\x07\x00")


@pytest.mark.parametrize("count, sent", [(-3, 0), (65535, 65535), (70000, 65535)])
def test_the_count_saturates(count: int, sent: int) -> None:
    assert advert.decode({0xFFFF: advert.encode(False, count)}).unsynced == sent


def test_decode_round_trips() -> None:
    state = advert.decode({0x004C: b"\x02\x15", 0xFFFF: advert.encode(True, 300)})
    assert state == advert.AdvertState(True, 300)
    assert state.charging is True and state.unsynced == 300
    assert repr(state) == "AdvertState(charging=True, unsynced=300)"


@pytest.mark.parametrize("data", [
    {}, {0x004C: b"\x01\x01\x00\x00"}, {0xFFFF: b"\x01\x01\x00"}, {0xFFFF: b"\x02\x01\x00\x00"},
    {0xFFFF: b""}])
def test_absent_short_or_unknown_versions_decode_to_none(data: dict) -> None:
    assert advert.decode(data) is None


def test_later_versions_may_append_and_unknown_flags_are_ignored() -> None:
    assert advert.decode({0xFFFF: b"\x01\xfe\x05\x00extra"}) == advert.AdvertState(False, 5)


def test_the_advertising_packet_stays_within_31_bytes() -> None:
    flags = 3
    uuid128 = 2 + 16
    element = 2 + 2 + len(advert.encode(True, 1))
    # aioble puts an element into the advertising data only while the total stays below 31.
    assert flags + uuid128 + element < 31


PROGRAM = """
from firmware.core import advert
for charging, n in ((True, 0), (False, 513), (True, 70000), (False, -1)):
    data = advert.encode(charging, n)
    print("".join("%02x" % b for b in data), advert.decode({0xFFFF: data}))
print(advert.decode({0xFFFF: b"\\x09\\x00\\x00\\x00"}), advert.decode({}))
"""


@pytest.mark.micropython
def test_same_output_on_micropython(micropython) -> None:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(PROGRAM, {})
    assert micropython.run(PROGRAM) == out.getvalue()
    assert out.getvalue().count("\n") == 5
