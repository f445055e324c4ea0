"""One connection to one wearable: the gateway's end of the sync protocol over bleak.

Commands go to the Control characteristic; answers and record frames arrive on the Data
characteristic's notifications. Every frame is checked before use, and a malformed frame
ends the session: the records stay on the wearable until a later sync.

The link may repeat or reorder notifications (radio retransmissions, a confused stack), so
records are identified by their sequence number, not by their position in the stream: a
record seen twice in one fetch is kept once, and a fetch's records are put back in order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient
from bleak.exc import BleakError

from firmware.core import protocol
from firmware.core.codec import CodecError

log = logging.getLogger(__name__)

# BlueZ can subscribe with StartNotify (values arrive as D-Bus PropertiesChanged signals)
# or AcquireNotify (a socket per characteristic). AcquireNotify fails with some
# peripherals and drops the socket silently on reconnects, and bleak's default has changed
# between releases; we pin StartNotify so a bleak upgrade cannot change how the one stream
# carrying records reaches us. Other backends ignore the argument.
_NOTIFY_ARGS: dict[str, Any] = {"bluez": {"use_start_notify": True}}


class SessionError(Exception):
    """The wearable answered with something unusable; the message says what."""


@dataclass(frozen=True)
class Batch:
    records: list[bytes]  # checked 32-byte records, strictly increasing seq
    last_seq: int  # the wearable's "last seq sent" (0 if none)
    # The wearable's HMAC over exactly these records (firmware/core/auth.py), None if it
    # holds no secret. Opaque here: the gateway has no key, it only carries the tag along.
    tag: bytes | None = None


@dataclass
class SessionStats:
    """What the session had to repair; logged and handy in tests."""

    duplicate_records: int = 0  # a record already received in the same fetch
    reordered_frames: int = 0  # a record frame that arrived after a later one
    stale_frames: int = 0  # a repeated response, or records outside a fetch


def seq_of(record: bytes) -> int:
    return int.from_bytes(record[:4], "little")


_FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"  # Device Information


class WearableSession:
    def __init__(self, client: BleakClient, response_timeout_s: float = 10.0) -> None:
        self.client = client
        self.timeout_s = response_timeout_s
        self.stats = SessionStats()
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def open(self) -> None:
        await self.client.start_notify(protocol.DATA_CHAR_UUID, self._on_frame, **_NOTIFY_ARGS)

    def link_lost(self) -> None:
        """Called when the radio link drops: whoever waits for an answer learns it now,
        not after the response timeout. Frames that arrived before it are read first."""
        self._frames.put_nowait(None)

    def _on_frame(self, _char: object, data: bytearray) -> None:
        self._frames.put_nowait(bytes(data))

    async def _next_frame(self) -> bytes:
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that arrives as a frame does, which would lose the sync deadline.
            async with asyncio.timeout(self.timeout_s):
                frame = await self._frames.get()
        except TimeoutError:
            raise SessionError(f"no answer from the wearable within {self.timeout_s} s") from None
        if frame is None:
            self._frames.put_nowait(None)  # every later read fails the same way
            raise SessionError("the wearable disconnected")
        return frame

    async def _exchange(self, command: bytes) -> tuple[list[list[bytes]], bytes]:
        """Send a command; return the records of the frames before its response (checked,
        one list per frame) and the response.

        A response to another command can only be a repeated or late one (every command
        waits for its own answer before the next is sent), so it is skipped; so are record
        frames when no FETCH is under way (records are only taken from a FETCH, counted
        against its end frame). Record frames are checked as they arrive: a corrupt one
        ends the session even when it is not needed.
        """
        op = command[0]
        self._discard_stale_frames()
        await self.client.write_gatt_char(protocol.CONTROL_CHAR_UUID, command, response=True)
        records: list[list[bytes]] = []
        while True:
            frame = await self._next_frame()
            if not frame:
                raise SessionError(f"empty frame while waiting for the answer to command "
                                   f"0x{op:02x}")
            kind = frame[0]
            if kind == op | protocol.RESPONSE_BIT:
                return records, frame
            if kind == protocol.FRAME_RECORDS:
                checked = self._parse(protocol.split_records, frame)
                if op == protocol.CMD_FETCH:
                    records.append(checked)
                else:
                    self.stats.stale_frames += 1
            elif kind & protocol.RESPONSE_BIT:
                self.stats.stale_frames += 1
            else:
                raise SessionError(f"unexpected frame 0x{kind:02x} while waiting for the "
                                   f"answer to command 0x{op:02x}")

    def _discard_stale_frames(self) -> None:
        """Drop what arrived after the last answer: every earlier command has had its
        answer, so these are repeats. Without this, a repeated answer to the previous
        command could pass for the answer to the next one with the same opcode."""
        while not self._frames.empty():
            if self._frames.get_nowait() is None:
                self._frames.put_nowait(None)  # the link is gone: the next read says so
                return
            self.stats.stale_frames += 1

    async def command(self, cmd: bytes) -> bytes:
        """Send one Control command and return its response frame (opcode | 0x80, status,
        body), unparsed: for commands this class has no method for."""
        if not cmd:
            raise ValueError("a command has at least its opcode")
        if cmd[0] == protocol.CMD_FETCH:
            raise ValueError("use fetch() for FETCH: its records need checking")
        _, frame = await self._exchange(cmd)
        return frame

    async def info(self) -> dict:
        frame = await self.command(protocol.cmd_info())
        return self._parse(protocol.parse_info, frame)

    async def set_time(self, unix_ms: int) -> None:
        frame = await self.command(protocol.cmd_set_time(unix_ms))
        self._parse(protocol.parse_response, frame, protocol.CMD_SET_TIME)

    async def fetch(self, from_seq: int, max_records: int) -> Batch:
        frames, end = await self._exchange(protocol.cmd_fetch(from_seq, max_records))
        sent, last_sent, tag = self._parse(protocol.parse_fetch_end, end)
        records = self._unique_in_order(frames)
        # A late repeat of a record from an earlier fetch: committed already, so harmless.
        stale = sum(1 for r in records if seq_of(r) < from_seq)
        if stale:
            self.stats.duplicate_records += stale
            records = records[stale:]
        if len(records) != sent:
            raise SessionError(f"wearable announced {sent} records but {len(records)} arrived")
        if records and seq_of(records[-1]) != last_sent:
            raise SessionError(f"wearable says it sent up to seq {last_sent}, last record "
                               f"received is {seq_of(records[-1])}")
        return Batch(records, last_sent, tag)

    def _unique_in_order(self, frames: list[list[bytes]]) -> list[bytes]:
        """The records of a fetch's frames, each once, in sequence order."""
        by_seq: dict[int, bytes] = {}
        highest = 0
        for records in frames:
            if records and seq_of(records[0]) < highest:
                self.stats.reordered_frames += 1
            for raw in records:
                seq = seq_of(raw)
                if seq in by_seq:
                    if by_seq[seq] != raw:
                        raise SessionError(f"two different records with seq {seq}")
                    self.stats.duplicate_records += 1
                    continue
                by_seq[seq] = raw
                highest = max(highest, seq)
        return [by_seq[seq] for seq in sorted(by_seq)]

    async def firmware_revision(self) -> str | None:
        """The firmware version the wearable reports (Device Information), None if it does
        not say; never fails a sync."""
        try:
            async with asyncio.timeout(self.timeout_s):
                raw = await self.client.read_gatt_char(_FIRMWARE_REVISION_UUID)
        except (BleakError, OSError, TimeoutError):
            return None
        text = bytes(raw).decode("utf-8", "replace").strip()
        return text[:64] or None

    async def ack(self, upto_seq: int) -> int:
        frame = await self.command(protocol.cmd_ack(upto_seq))
        return self._parse(protocol.parse_ack, frame)

    @staticmethod
    def _parse(parser, frame: bytes, *args):
        try:
            return parser(frame, *args)
        except (protocol.ProtocolError, CodecError) as e:
            raise SessionError(str(e)) from None
