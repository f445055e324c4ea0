"""What the wearable tells a scanning gateway before any connection: whether it is charging
and roughly how much it holds unsynced, so the gateway's sync policy can decide to connect
now (docs/protocol.md, "Advertisement data").

It travels as manufacturer-specific data (AD type 0xFF) under company id 0xFFFF, the id the
Bluetooth SIG keeps unassigned for tests and internal use: this project has no company id of
its own, and nothing else decides by it. Bytes after the company id, little-endian:

  offset  size
     0     1   version (ADVERT_VERSION)
     1     1   flags: bit 0 FLAG_CHARGING
     2     2   u16 records not yet acknowledged by a gateway, saturating at 65535

With the AD header (length, type) and the company id the element is 8 bytes; the flags (3)
and the 128-bit RTM service UUID (18) take 21 of the advertising packet's 31, so it fits and
the name stays in the scan response. A later version may append bytes: a receiver reads the
fields it knows and ignores the rest. Pure: the same file runs on the wearable (encode) and
on the gateway (decode).
"""

import struct

from firmware.core.compat import const

COMPANY_ID = const(0xFFFF)
ADVERT_VERSION = const(1)
FLAG_CHARGING = const(0x01)
PAYLOAD_SIZE = const(4)
_MAX_COUNT = const(0xFFFF)


class AdvertState:
    """What one advertisement said: `charging` (bool) and `unsynced` (records, saturated)."""

    def __init__(self, charging: bool, unsynced: int) -> None:
        self.charging = charging
        self.unsynced = unsynced

    def __eq__(self, other) -> bool:
        return (isinstance(other, AdvertState) and self.charging == other.charging
                and self.unsynced == other.unsynced)

    def __repr__(self) -> str:
        return "AdvertState(charging=%r, unsynced=%d)" % (self.charging, self.unsynced)


def encode(charging: bool, unsynced: int) -> bytes:
    """The bytes after the company id."""
    if unsynced < 0:
        unsynced = 0
    elif unsynced > _MAX_COUNT:
        unsynced = _MAX_COUNT
    return struct.pack("<BBH", ADVERT_VERSION, FLAG_CHARGING if charging else 0, unsynced)


def manufacturer(charging: bool, unsynced: int) -> tuple:
    """(company id, bytes): the form aioble's advertise(manufacturer=...) takes."""
    return (COMPANY_ID, encode(charging, unsynced))


def decode(manufacturer_data) -> "AdvertState | None":
    """From a scanner's manufacturer data (company id -> bytes after it, as bleak's
    AdvertisementData gives it): the state, or None if it is absent, of another version or
    too short (an older wearable, or another device using the test id)."""
    data = manufacturer_data.get(COMPANY_ID)
    if data is None or len(data) < PAYLOAD_SIZE or data[0] != ADVERT_VERSION:
        return None
    flags = data[1]
    return AdvertState(bool(flags & FLAG_CHARGING), data[2] | (data[3] << 8))
