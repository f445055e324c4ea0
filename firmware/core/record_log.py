"""Append-only record log in flash: every record stays until the gateway acknowledged it.

The storage is a flat byte region (page files on the device's littlefs, a bytearray in
tests)::

    [meta A 32 B][meta B 32 B][slot 0 32 B][slot 1 32 B] ... [slot N-1]

Record `seq` always lives in slot (seq - 1) % N, so the log is a ring whose order is
implied by the sequence numbers: no head pointer has to be written, and a record write is
a single 32-byte write whose CRC says whether it completed. The acknowledged sequence
number and the boot counter live in two alternating meta slots with a generation number and
a CRC; a torn meta write leaves the other slot valid. So a power cut at any byte leaves a
log that reopens with every completely written record.

When the ring is full, the oldest record is overwritten only if it was acknowledged; an
unacknowledged record is never overwritten: the new record is refused and counted in
`refused`, which the wearable reports to the gateway and signals on its LED.
"""

import binascii
import os
import struct

from firmware.core import codec
from firmware.core.compat import const

_META_SIZE = const(32)
_META_AREA = const(64)
_META_MAGIC = const(0x4C4D5452)  # "RTML"
_META_FMT = "<IIIIII"  # magic, generation, acked_seq, boot, refused, log_id; crc32 at 28
_SEQ_BASE_MASK = const(0x1FFFFFFF)
_META_CRC_AT = const(28)


class MemoryStorage:
    """Storage on a bytearray, for tests and simulators. Erased flash reads 0xFF."""

    def __init__(self, size: int) -> None:
        self.buf = bytearray(b"\xff" * size)
        self.size = size

    def read(self, offset: int, n: int) -> bytes:
        return bytes(self.buf[offset:offset + n])

    def write(self, offset: int, data) -> None:
        self.buf[offset:offset + len(data)] = data


class PagedFileStorage:
    """Storage in fixed-size page files in a directory (the wearable's littlefs).

    Not one big file: littlefs is copy-on-write, so changing a byte in the middle of a file
    rewrites the file from there to its end. With 2 KB pages, appending a record or writing
    the meta slot rewrites at most one page. Files are opened per access (an open littlefs
    file holds a cache buffer of RAM); records are written rarely, never per sample.
    """

    def __init__(self, directory: str, size: int, page_bytes: int = 2048) -> None:
        if page_bytes % 32:
            raise ValueError("page size must be a multiple of 32 bytes")
        self.size = size
        self.page_bytes = page_bytes
        self._dir = directory
        try:
            os.mkdir(directory)
        except OSError:
            pass  # exists
        blank = b"\xff" * page_bytes
        for page in range((size + page_bytes - 1) // page_bytes):
            path = self._path(page)
            try:
                have = os.stat(path)[6]  # st_size
            except OSError:
                have = -1
            if have < 0:
                with open(path, "wb") as f:
                    f.write(blank)
            elif have < page_bytes:
                # A power cut while the page was being created left it short (littlefs keeps
                # the empty file it created at open, other file systems a prefix): reads of
                # it would come back short and the log would fail to open at every boot.
                # Complete it as erased, keeping what it holds.
                with open(path, "ab") as f:
                    f.write(blank[have:])

    def _path(self, page: int) -> str:
        return "%s/p%03d.bin" % (self._dir, page)

    def read(self, offset: int, n: int) -> bytes:
        out = b""
        while n > 0:
            page, at = divmod(offset, self.page_bytes)
            k = min(n, self.page_bytes - at)
            with open(self._path(page), "rb") as f:
                f.seek(at)
                out += f.read(k)
            offset += k
            n -= k
        return out

    def write(self, offset: int, data) -> None:
        data = memoryview(data)
        while len(data):
            page, at = divmod(offset, self.page_bytes)
            k = min(len(data), self.page_bytes - at)
            with open(self._path(page), "r+b") as f:
                f.seek(at)
                f.write(data[:k])
            offset += k
            data = data[k:]


class RecordLog:
    """The wearable's durable record log (see the module docstring for the layout)."""

    def __init__(self, storage, new_log_id: int = 0) -> None:
        """Open the log in `storage`; if it holds none, create one with `new_log_id`.

        The log id (random on the device) tells the gateway that a log was recreated, and
        its low bits are where the new log's sequence numbers start, so records of a
        recreated log never reuse the sequence numbers of the lost one.
        """
        self.storage = storage
        self.capacity = (storage.size - _META_AREA) // codec.RECORD_SIZE
        if self.capacity < 2:
            raise ValueError("storage too small for a record log: %d bytes" % storage.size)
        self.acked_seq = 0
        self.boot = 0
        self.refused = 0
        self.corrupt = 0
        self._generation = 0
        self._meta_slot = 0
        self.last_seq = 0
        self.log_id = 0
        self._recover(new_log_id & 0xFFFFFFFF)

    # -- recovery -----------------------------------------------------------------
    def _read_meta(self, slot: int):
        raw = self.storage.read(slot * _META_SIZE, _META_SIZE)
        magic, gen, acked, boot, refused, log_id = struct.unpack_from(_META_FMT, raw, 0)
        crc = struct.unpack_from("<I", raw, _META_CRC_AT)[0]
        if magic != _META_MAGIC:
            return None
        if binascii.crc32(raw[:_META_CRC_AT]) & 0xFFFFFFFF != crc:
            return None
        return gen, acked, boot, refused, log_id

    def _recover(self, new_log_id: int) -> None:
        best = None
        for slot in (0, 1):
            meta = self._read_meta(slot)
            if meta is not None and (best is None or meta[0] > best[1][0]):
                best = (slot, meta)
        if best is not None:
            self._meta_slot = best[0]
            (self._generation, self.acked_seq, self.boot, self.refused,
             self.log_id) = best[1]
        else:
            self.log_id = new_log_id
            self.acked_seq = new_log_id & _SEQ_BASE_MASK
            self._write_meta()
        last = 0
        for i in range(self.capacity):
            raw = self._read_slot(i)
            if raw is None:
                continue
            seq = codec.seq_of(raw)
            if seq > last:
                last = seq
        self.last_seq = last if last > self.acked_seq else self.acked_seq

    def _read_slot(self, index: int):
        raw = self.storage.read(_META_AREA + index * codec.RECORD_SIZE, codec.RECORD_SIZE)
        try:
            codec.check(raw)
        except ValueError:
            return None
        if (codec.seq_of(raw) - 1) % self.capacity != index:
            return None
        return raw

    def _write_meta(self) -> None:
        self._generation += 1
        slot = 1 - self._meta_slot
        buf = bytearray(_META_SIZE)
        struct.pack_into(_META_FMT, buf, 0, _META_MAGIC, self._generation, self.acked_seq,
                         self.boot, self.refused, self.log_id)
        struct.pack_into("<I", buf, _META_CRC_AT,
                         binascii.crc32(memoryview(buf)[:_META_CRC_AT]) & 0xFFFFFFFF)
        self.storage.write(slot * _META_SIZE, buf)
        self._meta_slot = slot

    # -- the wearable's side ----------------------------------------------------------
    def new_boot(self) -> int:
        """Count a boot (persisted) and return the new boot number."""
        self.boot = (self.boot + 1) & 0xFFFF
        self._write_meta()
        return self.boot

    def next_seq(self) -> int:
        return self.last_seq + 1

    def oldest_seq(self) -> int:
        """The oldest sequence number still readable (acknowledged or not)."""
        oldest = self.last_seq - self.capacity + 1
        return oldest if oldest > 1 else 1

    def unacked(self) -> int:
        return self.last_seq - self.acked_seq

    def append(self, record) -> bool:
        """Store an encoded record whose seq is `next_seq()`. False if refused (log full)."""
        seq = codec.seq_of(record)
        if seq != self.last_seq + 1:
            raise ValueError("record seq %d, expected %d" % (seq, self.last_seq + 1))
        if seq - self.capacity > self.acked_seq:
            # The slot holds seq - capacity, not yet acknowledged: never overwrite it.
            self.refused += 1
            self._write_meta()
            return False
        index = (seq - 1) % self.capacity
        self.storage.write(_META_AREA + index * codec.RECORD_SIZE, record)
        self.last_seq = seq
        return True

    # -- the gateway's side -----------------------------------------------------------
    def read(self, seq: int):
        """The record `seq`, or None if it is gone (overwritten after its ack) or corrupt."""
        if seq < self.oldest_seq() or seq > self.last_seq:
            return None
        raw = self._read_slot((seq - 1) % self.capacity)
        if raw is None or codec.seq_of(raw) != seq:
            self.corrupt += 1
            return None
        return raw

    def acknowledge(self, upto_seq: int) -> int:
        """Mark every record up to `upto_seq` as safely received; returns the acked seq."""
        if upto_seq > self.last_seq:
            raise ValueError("ack %d beyond last record %d" % (upto_seq, self.last_seq))
        if upto_seq > self.acked_seq:
            self.acked_seq = upto_seq
            self._write_meta()
        return self.acked_seq
