"""The home exercise program as the wearable knows it, and how far today's part of it got.

A program is a short list of items (exercise, sets, reps per set, target range of motion,
rest between sets), carried in one compact, CRC-checked byte string: the same bytes arrive
over BLE (protocol CMD_SET_PROGRAM), are stored in flash and are read back at every boot.
All integers little-endian:

  offset  size
     0     1   version (PROGRAM_VERSION)
     1     1   count of items, 0..MAX_ITEMS (0 = no program: generic sets)
     2     1   flags: bit 0 FLAG_AUTO_START (a set may start by itself on motion)
     3     2   i16 UTC offset of the patient's home in minutes (-720..840): local midnight
     5   6 * count items: u8 exercise (firmware/core/exercises.py), u8 sets (1..255),
               u8 reps per set (1..255), u8 rest between sets in s, u16 target ROM in
               centidegrees (0 = none, at most 18000)
   5+6n    4   CRC-32 (IEEE, binascii.crc32) of all bytes before it

At most 6 items, so a whole program (45 bytes) plus its opcode fits in one Control write at
the protocol's minimum ATT MTU of 49. The CRC is also the program's identity: progress
remembers which program it belongs to.

`Progress` is the day's position in the program (the next set, counted over all items in
order), stored in flash after every change because each deep-sleep wake is a reboot.

Reading a decoded program allocates nothing (fields are read from its bytes as small ints),
so the session may consult it at any event.
"""

import binascii
import struct

from firmware.core.compat import const

PROGRAM_VERSION = const(1)
MAX_ITEMS = const(6)
FLAG_AUTO_START = const(0x01)
_KNOWN_FLAGS = const(0x01)
_HEADER = const(5)
_ITEM = const(6)
_CRC = const(4)
MIN_PROGRAM_BYTES = const(5 + 4)
MAX_PROGRAM_BYTES = const(5 + 6 * 6 + 4)
_MAX_ROM_CDEG = const(18000)
_MIN_UTC_MIN = const(-720)
_MAX_UTC_MIN = const(840)


def _crc(data) -> int:
    return binascii.crc32(data) & 0xFFFFFFFF


def encode(items, flags: int = 0, utc_offset_min: int = 0) -> bytes:
    """Bytes of a program; `items` is a sequence of (exercise, sets, reps, target_rom_cdeg,
    rest_s). Checked like received bytes (ValueError), so the gateway cannot build a program
    the wearable would refuse."""
    # Ranges first: CPython's struct raises struct.error (not a ValueError) for a value that
    # does not fit its field, and MicroPython's silently keeps the low bits.
    if len(items) > MAX_ITEMS:
        raise ValueError("program has %d items, at most %d" % (len(items), MAX_ITEMS))
    _check_range("program flags", flags, 0, 0xFF)
    _check_range("UTC offset (min)", utc_offset_min, _MIN_UTC_MIN, _MAX_UTC_MIN)
    buf = bytearray(struct.pack("<BBBh", PROGRAM_VERSION, len(items), flags, utc_offset_min))
    for i, (exercise, sets, reps, target_rom_cdeg, rest_s) in enumerate(items):
        _check_range("item %d: exercise" % i, exercise, 0, 0xFF)
        _check_range("item %d: sets" % i, sets, 1, 0xFF)
        _check_range("item %d: reps" % i, reps, 1, 0xFF)
        _check_range("item %d: target ROM (cdeg)" % i, target_rom_cdeg, 0, _MAX_ROM_CDEG)
        _check_range("item %d: rest (s)" % i, rest_s, 0, 0xFF)
        buf += struct.pack("<BBBBH", exercise, sets, reps, rest_s, target_rom_cdeg)
    buf += struct.pack("<I", _crc(buf))
    data = bytes(buf)
    decode(data)
    return data


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if value < low or value > high:
        raise ValueError("%s must be %d..%d, got %d" % (what, low, high, value))


def decode(data) -> "Program":
    """Check program bytes and return the Program (ValueError naming the problem)."""
    data = bytes(data)
    n = len(data)
    if n < MIN_PROGRAM_BYTES:
        raise ValueError("program too short: %d bytes, at least %d" % (n, MIN_PROGRAM_BYTES))
    if data[0] != PROGRAM_VERSION:
        raise ValueError("program version %d not supported (expected %d)"
                         % (data[0], PROGRAM_VERSION))
    count = data[1]
    if count > MAX_ITEMS:
        raise ValueError("program has %d items, at most %d" % (count, MAX_ITEMS))
    expected = _HEADER + _ITEM * count + _CRC
    if n != expected:
        raise ValueError("program of %d items must be %d bytes, got %d" % (count, expected, n))
    stored = struct.unpack_from("<I", data, n - _CRC)[0]
    if _crc(memoryview(data)[:n - _CRC]) != stored:
        raise ValueError("program CRC mismatch")
    if data[2] & ~_KNOWN_FLAGS:
        raise ValueError("program flags 0x%02x has unknown bits" % data[2])
    utc = struct.unpack_from("<h", data, 3)[0]
    if utc < _MIN_UTC_MIN or utc > _MAX_UTC_MIN:
        raise ValueError("UTC offset %d min outside %d..%d" % (utc, _MIN_UTC_MIN, _MAX_UTC_MIN))
    for i in range(count):
        at = _HEADER + _ITEM * i
        if data[at + 1] == 0:
            raise ValueError("item %d: sets must be 1..255, got 0" % i)
        if data[at + 2] == 0:
            raise ValueError("item %d: reps must be 1..255, got 0" % i)
        rom = data[at + 4] | data[at + 5] << 8
        if rom > _MAX_ROM_CDEG:
            raise ValueError("item %d: target ROM %d cdeg above %d" % (i, rom, _MAX_ROM_CDEG))
    return Program(data)


class Program:
    """A checked program (build it with `decode`). Accessors take the item index."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.count = data[1]
        self.flags = data[2]
        self.utc_offset_min = struct.unpack_from("<h", data, 3)[0]
        self.crc = struct.unpack_from("<I", data, len(data) - _CRC)[0]
        total = 0
        for i in range(self.count):
            total += data[_HEADER + _ITEM * i + 1]
        self.total_sets = total

    def exercise(self, i: int) -> int:
        return self.data[_HEADER + _ITEM * i]

    def sets(self, i: int) -> int:
        return self.data[_HEADER + _ITEM * i + 1]

    def reps(self, i: int) -> int:
        return self.data[_HEADER + _ITEM * i + 2]

    def rest_s(self, i: int) -> int:
        return self.data[_HEADER + _ITEM * i + 3]

    def target_rom_cdeg(self, i: int) -> int:
        at = _HEADER + _ITEM * i + 4
        return self.data[at] | self.data[at + 1] << 8

    def item_of(self, set_index: int) -> int:
        """The item that the day's `set_index`-th set (0-based, over all items) belongs to;
        `count` once every set is past."""
        i = 0
        while i < self.count:
            n = self.sets(i)
            if set_index < n:
                return i
            set_index -= n
            i += 1
        return self.count

    def set_in_item(self, set_index: int) -> int:
        """1-based number of that set within its item (0 once every set is past)."""
        i = 0
        while i < self.count:
            n = self.sets(i)
            if set_index < n:
                return set_index + 1
            set_index -= n
            i += 1
        return 0


# -- progress ---------------------------------------------------------------------------------
# u32 program CRC, i32 local day (days since 1970, -1 = the time was unknown), u32 seconds of
# the last change on the shell's sleep-proof clock, u16 next set, u8 flags (bit 0: the low
# battery was signalled today); then CRC-32 of the 15 bytes.
_PROGRESS_FMT = "<IiIHB"
PROGRESS_BYTES = const(19)
PROGRESS_BATTERY_WARNED = const(0x01)


class Progress:
    def __init__(self, program_crc: int = 0, day: int = -1, last_s: int = 0,
                 next_set: int = 0, flags: int = 0) -> None:
        self.program_crc = program_crc
        self.day = day
        self.last_s = last_s
        self.next_set = next_set
        self.flags = flags

    def encode(self) -> bytes:
        buf = bytearray(struct.pack(_PROGRESS_FMT, self.program_crc, self.day,
                                    self.last_s & 0xFFFFFFFF, self.next_set, self.flags))
        buf += struct.pack("<I", _crc(buf))
        return bytes(buf)


def decode_progress(data) -> Progress:
    """Progress from its stored bytes (ValueError if they are not intact)."""
    data = bytes(data)
    if len(data) != PROGRESS_BYTES:
        raise ValueError("progress must be %d bytes, got %d" % (PROGRESS_BYTES, len(data)))
    if _crc(memoryview(data)[:PROGRESS_BYTES - _CRC]) != struct.unpack_from(
            "<I", data, PROGRESS_BYTES - _CRC)[0]:
        raise ValueError("progress CRC mismatch")
    crc, day, last_s, next_set, flags = struct.unpack_from(_PROGRESS_FMT, data, 0)
    return Progress(crc, day, last_s, next_set, flags)
