"""One connection to one wearable: the gateway's end of the sync protocol over bleak.

Commands go to the Control characteristic; answers and record frames arrive in order on
the Data characteristic's notifications. Every frame is checked before use, and any
malformed frame ends the session: the records stay on the wearable until a later sync.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bleak import BleakClient

from firmware.core import protocol
from firmware.core.codec import CodecError


class SessionError(Exception):
    """The wearable answered with something unusable; the message says what."""


@dataclass(frozen=True)
class Batch:
    records: list[bytes]  # checked 32-byte records, strictly increasing seq
    last_seq: int  # the wearable's "last seq sent" (0 if none)


class WearableSession:
    def __init__(self, client: BleakClient, response_timeout_s: float = 10.0) -> None:
        self.client = client
        self.timeout_s = response_timeout_s
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()

    async def open(self) -> None:
        await self.client.start_notify(protocol.DATA_CHAR_UUID, self._on_frame)

    def _on_frame(self, _char: object, data: bytearray) -> None:
        self._frames.put_nowait(bytes(data))

    async def _next_frame(self) -> bytes:
        try:
            return await asyncio.wait_for(self._frames.get(), self.timeout_s)
        except TimeoutError:
            raise SessionError(f"no answer from the wearable within {self.timeout_s} s") from None

    async def _command(self, command: bytes) -> tuple[list[bytes], bytes]:
        """Send a command; return the record frames before its response, and the response."""
        op = command[0]
        await self.client.write_gatt_char(protocol.CONTROL_CHAR_UUID, command, response=True)
        records: list[bytes] = []
        while True:
            frame = await self._next_frame()
            if frame and frame[0] == protocol.FRAME_RECORDS:
                records.append(frame)
            elif frame and frame[0] == op | protocol.RESPONSE_BIT:
                return records, frame
            else:
                raise SessionError(f"unexpected frame 0x{frame[:1].hex() or 'empty'} while "
                                   f"waiting for the answer to command 0x{op:02x}")

    async def info(self) -> dict:
        _, frame = await self._command(protocol.cmd_info())
        return self._parse(protocol.parse_info, frame)

    async def set_time(self, unix_ms: int) -> None:
        _, frame = await self._command(protocol.cmd_set_time(unix_ms))
        self._parse(protocol.parse_response, frame, protocol.CMD_SET_TIME)

    async def fetch(self, from_seq: int, max_records: int) -> Batch:
        frames, end = await self._command(protocol.cmd_fetch(from_seq, max_records))
        sent, last_sent = self._parse(protocol.parse_fetch_end, end)
        records: list[bytes] = []
        for frame in frames:
            records.extend(self._parse(protocol.split_records, frame))
        if len(records) != sent:
            raise SessionError(f"wearable announced {sent} records but {len(records)} arrived")
        prev = from_seq - 1
        for raw in records:
            seq = int.from_bytes(raw[:4], "little")
            if seq <= prev:
                raise SessionError(f"records out of order: seq {seq} after {prev}")
            prev = seq
        return Batch(records, last_sent)

    async def ack(self, upto_seq: int) -> int:
        _, frame = await self._command(protocol.cmd_ack(upto_seq))
        return self._parse(protocol.parse_ack, frame)

    @staticmethod
    def _parse(parser, frame: bytes, *args):
        try:
            return parser(frame, *args)
        except (protocol.ProtocolError, CodecError) as e:
            raise SessionError(str(e)) from None
