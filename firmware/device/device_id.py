"""The wearable's identity on the wire: 6 random bytes made once and kept in a file.

Not the MAC and not derived from it: the id says nothing about the hardware or the patient,
and the clinic links it to a patient in its own registry. It survives reboots, deep sleep and
firmware updates that copy files; only a factory reset (erasing the filesystem) makes a new one,
which the clinic then enrols again.

Make it after the radio is on (firmware/main.py does): the ESP32-S3 random number generator is
only truly random while the RF subsystem (or the bootloader's entropy source) runs.
"""

import binascii
import os

from firmware.core.compat import const

ID_BYTES = const(6)
DEFAULT_PATH = "/device_id.bin"


def _valid(raw) -> bool:
    return len(raw) == ID_BYTES and raw != b"\x00" * ID_BYTES and raw != b"\xff" * ID_BYTES


def load(path: str = DEFAULT_PATH):
    """The stored id, or None if there is none (or it is damaged)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw if _valid(raw) else None


def load_or_create(path: str = DEFAULT_PATH, random_bytes=None) -> bytes:
    """The stored id; on first use a new random one, written through a temporary file."""
    raw = load(path)
    if raw is not None:
        return raw
    if random_bytes is None:
        random_bytes = os.urandom
    new = bytes(random_bytes(ID_BYTES))
    while not _valid(new):  # all-zero / all-one ids are reserved as "unset"
        new = bytes(random_bytes(ID_BYTES))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(new)
    try:
        os.remove(path)  # a damaged file: rename does not overwrite on every port
    except OSError:
        pass
    os.rename(tmp, path)
    return new


def hex_id(device_id) -> str:
    """Lower-case hex, as in the advertised name and the Serial Number characteristic."""
    return binascii.hexlify(device_id).decode()
