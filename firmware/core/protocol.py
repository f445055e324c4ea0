"""The sync protocol, both ends: the wearable's command handler and the frame formats the
gateway uses to talk to it. docs/protocol.md is the prose version of this file.

The gateway writes commands to the Control characteristic; every answer and every batch of
records comes back as notifications on the Data characteristic, so one ordered stream
carries everything. The handler is pure: bytes in, a list of notification payloads out.
"""

import struct

from firmware.core import auth, codec, program
from firmware.core.compat import const

PROTOCOL_VERSION = const(1)

# 128-bit UUIDs of the RTM GATT service (random base, never reused for anything else).
RTM_SERVICE_UUID = "7f1e0001-5d3b-4c8a-9b6e-2a41c0d3e9a1"
CONTROL_CHAR_UUID = "7f1e0002-5d3b-4c8a-9b6e-2a41c0d3e9a1"
DATA_CHAR_UUID = "7f1e0003-5d3b-4c8a-9b6e-2a41c0d3e9a1"
DEVICE_NAME_PREFIX = "RTM-"

# Commands (gateway -> wearable, first byte of a Control write).
CMD_INFO = const(0x01)
CMD_SET_TIME = const(0x02)
CMD_FETCH = const(0x03)
CMD_ACK = const(0x04)
CMD_SET_PROGRAM = const(0x05)  # body: the program bytes (firmware/core/program.py)
CMD_SET_SECRET = const(0x06)  # body: the 32-byte per-device secret; write-once
CMD_FORGET = const(0x07)  # no body: unenrolled, forget the bonded gateway (not the secret)
RESPONSE_BIT = const(0x80)  # a response to command X starts with X | RESPONSE_BIT
FRAME_RECORDS = const(0xD0)  # a notification carrying records: 0xD0, count, count * 32 bytes

STATUS_OK = const(0)
STATUS_BAD_LENGTH = const(1)
STATUS_UNKNOWN_COMMAND = const(2)
STATUS_BAD_ARGUMENT = const(3)
STATUS_REFUSED = const(4)  # well formed but not allowed now (provisioned, link not encrypted)

SECRET_SIZE = const(32)

# INFO response after (opcode, status): version, device id, log id, boot, uptime, unix time
# (0 = unknown), first readable seq, last seq, acked seq, battery %, refused records.
INFO_FMT = "<B6sIHQQIIIBH"
INFO_SIZE = struct.calcsize(INFO_FMT)
FETCH_FMT = "<IH"  # from_seq, max_records
FETCH_END_FMT = "<HI"  # after (opcode, status): records sent, last seq sent (0 if none)
FETCH_END_SIZE = const(6)
# A wearable holding a secret appends the batch tag (firmware/core/auth.py) to FETCH end:
# the body's length tells the two variants apart, so the protocol version stays 1.
FETCH_END_SIGNED_SIZE = const(6 + 32)
MAX_FETCH = const(512)
# The longest notification that must fit: the INFO response (2 + 44 bytes); a record frame
# (2 + 32) and a signed FETCH end (2 + 6 + 32) are shorter. So the ATT MTU must be at least 49.
MIN_NOTIFY_PAYLOAD = const(46)


class ProtocolError(ValueError):
    """A frame from the other side is malformed; the message names the problem."""


class ProtocolHandler:
    """The wearable's end of the sync protocol.

    `uptime_ms` and `battery_pct` are callables supplied by the device shell (or the
    simulator), so this class never touches hardware. `on_program(bytes)`, if given (or set
    later), stores a checked program (SET_PROGRAM); without it the command is unknown.

    Enrollment: `on_secret(bytes)` stores the per-device secret (SET_SECRET) and `secret` is
    what is stored (the shell loads it at boot; None until provisioned). The secret is
    write-once: a different one is refused until the wearable is factory-reset, so a gateway
    (even a stolen one with the bond keys) cannot replace the key the records are signed
    with. `on_forget()` drops the bonded gateway (FORGET). `link_encrypted` is set by the
    shell before each write: True/False when the BLE stack tells, None when it cannot; a
    link known to be unencrypted may neither provision nor forget.
    """

    def __init__(self, log, clock, device_id: bytes, uptime_ms, battery_pct,
                 max_notify_payload: int = 20 + 224, on_program=None, on_secret=None,
                 secret=None, on_forget=None) -> None:
        if len(device_id) != 6:
            raise ValueError("device id must be 6 bytes")
        self.log = log
        self.clock = clock
        self.device_id = device_id
        self._uptime_ms = uptime_ms
        self._battery_pct = battery_pct
        self.set_notify_payload(max_notify_payload)
        self.errors = 0
        self.on_program = on_program
        self.on_secret = on_secret
        self.secret = secret
        self.on_forget = on_forget
        self.link_encrypted = None

    def set_notify_payload(self, max_payload: int) -> None:
        """Adapt to the negotiated ATT MTU (payload = MTU - 3)."""
        if max_payload < MIN_NOTIFY_PAYLOAD:
            max_payload = MIN_NOTIFY_PAYLOAD
        self._per_frame = (max_payload - 2) // codec.RECORD_SIZE

    def on_write(self, data) -> list:
        """Handle one Control write; return the notifications to send, in order."""
        if len(data) == 0:
            self.errors += 1
            return [bytes((RESPONSE_BIT, STATUS_BAD_LENGTH))]
        op = data[0]
        if op == CMD_INFO:
            return [self._info(data)]
        if op == CMD_SET_TIME:
            return [self._set_time(data)]
        if op == CMD_FETCH:
            return self._fetch(data)
        if op == CMD_ACK:
            return [self._ack(data)]
        if op == CMD_SET_PROGRAM and self.on_program is not None:
            return [self._set_program(data)]
        if op == CMD_SET_SECRET and self.on_secret is not None:
            return [self._set_secret(data)]
        if op == CMD_FORGET and self.on_forget is not None:
            return [self._forget(data)]
        self.errors += 1
        return [bytes((op | RESPONSE_BIT, STATUS_UNKNOWN_COMMAND))]

    def _status(self, op: int, status: int) -> bytes:
        if status != STATUS_OK:
            self.errors += 1
        return bytes((op | RESPONSE_BIT, status))

    def _info(self, data) -> bytes:
        if len(data) != 1:
            return self._status(CMD_INFO, STATUS_BAD_LENGTH)
        uptime = self._uptime_ms()
        log = self.log
        return bytes((CMD_INFO | RESPONSE_BIT, STATUS_OK)) + struct.pack(
            INFO_FMT, PROTOCOL_VERSION, self.device_id, log.log_id, self.clock.boot, uptime,
            self.clock.unix_ms(uptime), log.oldest_seq(), log.last_seq, log.acked_seq,
            self._battery_pct(), log.refused & 0xFFFF)

    def _set_time(self, data) -> bytes:
        if len(data) != 9:
            return self._status(CMD_SET_TIME, STATUS_BAD_LENGTH)
        unix_ms = struct.unpack_from("<Q", data, 1)[0]
        if unix_ms < 1600000000000:  # before Sept 2020: a gateway bug, not a time
            return self._status(CMD_SET_TIME, STATUS_BAD_ARGUMENT)
        self.clock.set_unix_ms(unix_ms, self._uptime_ms())
        return self._status(CMD_SET_TIME, STATUS_OK)

    def _fetch(self, data) -> list:
        if len(data) != 7:
            return [self._status(CMD_FETCH, STATUS_BAD_LENGTH)]
        from_seq, max_records = struct.unpack_from(FETCH_FMT, data, 1)
        if max_records == 0 or max_records > MAX_FETCH or from_seq == 0:
            return [self._status(CMD_FETCH, STATUS_BAD_ARGUMENT)]
        log = self.log
        seq = from_seq if from_seq > log.oldest_seq() else log.oldest_seq()
        out = []
        # One HMAC per FETCH, fed as records are read: nothing is kept or re-read for it.
        tag = None
        if self.secret is not None:
            tag = auth.batch_hmac(self.secret, self.device_id, log.log_id)
        frame = bytearray()
        in_frame = 0
        sent = 0
        last_sent = 0
        while seq <= log.last_seq and sent < max_records:
            raw = log.read(seq)
            seq += 1
            if raw is None:
                continue  # counted by the log as corrupt; never hand out a bad record
            if in_frame == 0:
                frame = bytearray((FRAME_RECORDS, 0))
            frame += raw
            if tag is not None:
                tag.update(raw)
            in_frame += 1
            sent += 1
            last_sent = codec.seq_of(raw)
            if in_frame == self._per_frame:
                frame[1] = in_frame
                out.append(bytes(frame))
                in_frame = 0
        if in_frame:
            frame[1] = in_frame
            out.append(bytes(frame))
        end = bytes((CMD_FETCH | RESPONSE_BIT, STATUS_OK)) + struct.pack(
            FETCH_END_FMT, sent, last_sent)
        if tag is not None:
            end += tag.digest()
        out.append(end)
        return out

    def _ack(self, data) -> bytes:
        if len(data) != 5:
            return self._status(CMD_ACK, STATUS_BAD_LENGTH)
        upto = struct.unpack_from("<I", data, 1)[0]
        if upto > self.log.last_seq:
            return self._status(CMD_ACK, STATUS_BAD_ARGUMENT)
        acked = self.log.acknowledge(upto)
        return bytes((CMD_ACK | RESPONSE_BIT, STATUS_OK)) + struct.pack("<I", acked)

    def _set_program(self, data) -> bytes:
        if len(data) < 1 + program.MIN_PROGRAM_BYTES or len(data) > 1 + program.MAX_PROGRAM_BYTES:
            return self._status(CMD_SET_PROGRAM, STATUS_BAD_LENGTH)
        body = bytes(data[1:])
        try:
            program.decode(body)
        except ValueError:
            return self._status(CMD_SET_PROGRAM, STATUS_BAD_ARGUMENT)
        # OK only once stored: a storage error propagates and the gateway gets no answer.
        self.on_program(body)
        return self._status(CMD_SET_PROGRAM, STATUS_OK)

    def _set_secret(self, data) -> bytes:
        if len(data) != 1 + SECRET_SIZE:
            return self._status(CMD_SET_SECRET, STATUS_BAD_LENGTH)
        if self.link_encrypted is False:
            return self._status(CMD_SET_SECRET, STATUS_REFUSED)
        body = bytes(data[1:])
        if self.secret is not None:
            # The same secret again is a gateway retrying after a lost answer: OK. Any
            # other is refused, compared in constant time.
            same = _same_bytes(self.secret, body)
            return self._status(CMD_SET_SECRET, STATUS_OK if same else STATUS_REFUSED)
        if body == bytes(SECRET_SIZE):
            return self._status(CMD_SET_SECRET, STATUS_BAD_ARGUMENT)
        # OK only once stored: a storage error propagates and the gateway gets no answer.
        self.on_secret(body)
        self.secret = body
        return self._status(CMD_SET_SECRET, STATUS_OK)

    def _forget(self, data) -> bytes:
        if len(data) != 1:
            return self._status(CMD_FORGET, STATUS_BAD_LENGTH)
        if self.link_encrypted is False:
            return self._status(CMD_FORGET, STATUS_REFUSED)
        self.on_forget()
        return self._status(CMD_FORGET, STATUS_OK)


def _same_bytes(a, b) -> bool:
    """Equal, in a time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


# -- the gateway's end: building commands and parsing what comes back ----------------------

def cmd_info() -> bytes:
    return bytes((CMD_INFO,))


def cmd_set_time(unix_ms: int) -> bytes:
    return bytes((CMD_SET_TIME,)) + struct.pack("<Q", unix_ms)


def cmd_fetch(from_seq: int, max_records: int) -> bytes:
    return bytes((CMD_FETCH,)) + struct.pack(FETCH_FMT, from_seq, max_records)


def cmd_ack(upto_seq: int) -> bytes:
    return bytes((CMD_ACK,)) + struct.pack("<I", upto_seq)


def cmd_set_program(program_bytes) -> bytes:
    """SET_PROGRAM with bytes from firmware.core.program.encode (checked here too)."""
    program.decode(program_bytes)
    return bytes((CMD_SET_PROGRAM,)) + bytes(program_bytes)


def cmd_set_secret(secret) -> bytes:
    if len(secret) != SECRET_SIZE:
        raise ValueError("secret must be %d bytes, got %d" % (SECRET_SIZE, len(secret)))
    return bytes((CMD_SET_SECRET,)) + bytes(secret)


def cmd_forget() -> bytes:
    return bytes((CMD_FORGET,))


def parse_response(frame, op: int) -> bytes:
    """Check a response frame to command `op`; return its body after (opcode, status)."""
    if len(frame) < 2:
        raise ProtocolError("response frame too short: %d bytes" % len(frame))
    if frame[0] != op | RESPONSE_BIT:
        raise ProtocolError("expected response to 0x%02x, got frame type 0x%02x" % (op, frame[0]))
    if frame[1] != STATUS_OK:
        raise ProtocolError("command 0x%02x failed with status %d" % (op, frame[1]))
    return bytes(frame[2:])


def parse_info(frame) -> dict:
    body = parse_response(frame, CMD_INFO)
    if len(body) != INFO_SIZE:
        raise ProtocolError("INFO body must be %d bytes, got %d" % (INFO_SIZE, len(body)))
    (version, device_id, log_id, boot, uptime_ms, unix_ms, first_seq, last_seq, acked_seq,
     battery, refused) = struct.unpack(INFO_FMT, body)
    if version != PROTOCOL_VERSION:
        raise ProtocolError("wearable speaks protocol %d, this gateway %d"
                            % (version, PROTOCOL_VERSION))
    return {"version": version, "device_id": device_id, "log_id": log_id, "boot": boot,
            "uptime_ms": uptime_ms,
            "unix_ms": unix_ms, "first_seq": first_seq, "last_seq": last_seq,
            "acked_seq": acked_seq, "battery_pct": battery, "refused": refused}


def split_records(frame) -> list:
    """The records in a FRAME_RECORDS notification, each checked (CodecError if bad)."""
    if len(frame) < 2 or frame[0] != FRAME_RECORDS:
        raise ProtocolError("not a records frame")
    count = frame[1]
    if len(frame) != 2 + count * codec.RECORD_SIZE:
        raise ProtocolError("records frame says %d records but has %d bytes"
                            % (count, len(frame) - 2))
    out = []
    for i in range(count):
        raw = bytes(frame[2 + i * codec.RECORD_SIZE:2 + (i + 1) * codec.RECORD_SIZE])
        codec.check(raw)
        out.append(raw)
    return out


def parse_fetch_end(frame) -> tuple:
    """(records sent, last seq sent, tag): the tag is the batch's 32-byte HMAC from a
    wearable that holds a secret, None from one that does not."""
    body = parse_response(frame, CMD_FETCH)
    if len(body) != FETCH_END_SIZE and len(body) != FETCH_END_SIGNED_SIZE:
        raise ProtocolError("FETCH end body must be %d or %d bytes, got %d"
                            % (FETCH_END_SIZE, FETCH_END_SIGNED_SIZE, len(body)))
    sent, last_sent = struct.unpack_from(FETCH_END_FMT, body, 0)
    tag = body[FETCH_END_SIZE:] if len(body) == FETCH_END_SIGNED_SIZE else None
    return sent, last_sent, tag


def parse_ack(frame) -> int:
    body = parse_response(frame, CMD_ACK)
    if len(body) != 4:
        raise ProtocolError("ACK body must be 4 bytes, got %d" % len(body))
    return struct.unpack("<I", body)[0]
