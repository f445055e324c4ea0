"""End-to-end integrity: the wearable's HMAC-SHA256 over each FETCH batch (docs/protocol.md,
"Batch tag"). The bridge recomputes it with the same code; the gateway, which never holds
the secret, can relay a batch but not forge or alter one undetected.

MicroPython has `hashlib.sha256` but no `hmac` module, so RFC 2104 is written out here. A
tag is computed once per FETCH, fed record by record as they are read from the log: nothing
here runs in the sample path.
"""

import hashlib
import struct

from firmware.core.compat import const

TAG_SIZE = const(32)
_BLOCK = const(64)  # SHA-256 block size in bytes (RFC 2104's B)
# Fixed and versioned: a tag made for one purpose can never pass for another.
BATCH_DOMAIN = b"RTM-BATCH-1"


class Hmac:
    """HMAC-SHA256 computed incrementally: `update` as often as needed, then `digest` once."""

    def __init__(self, key) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        ipad = bytearray(_BLOCK)
        opad = bytearray(_BLOCK)
        for i in range(_BLOCK):
            k = key[i] if i < len(key) else 0
            ipad[i] = k ^ 0x36
            opad[i] = k ^ 0x5C
        self._inner = hashlib.sha256(ipad)
        self._opad = opad

    def update(self, data) -> None:
        self._inner.update(data)

    def digest(self) -> bytes:
        # MicroPython's hash objects end at digest(): this object is used up too.
        outer = hashlib.sha256(self._opad)
        outer.update(self._inner.digest())
        return outer.digest()


def hmac_sha256(key, msg) -> bytes:
    h = Hmac(key)
    h.update(msg)
    return h.digest()


def batch_hmac(secret, device_id, log_id: int) -> Hmac:
    """The HMAC of a batch with its header fed in; the caller adds the records, in the order
    sent (each is 32 bytes and carries its own seq and CRC), then takes the digest."""
    if len(device_id) != 6:
        raise ValueError("device id must be 6 bytes")
    h = Hmac(secret)
    h.update(BATCH_DOMAIN)
    h.update(device_id)
    h.update(struct.pack("<I", log_id))
    return h


def batch_tag(secret, device_id, log_id: int, records) -> bytes:
    """The tag of a whole batch: `records` is a list of 32-byte records."""
    h = batch_hmac(secret, device_id, log_id)
    for raw in records:
        h.update(raw)
    return h.digest()
