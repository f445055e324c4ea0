"""Property tests of the sync protocol (firmware/core/protocol.py), both ends.

The wearable's handler answers any Control write with well-formed frames and never raises;
the gateway's frame parsers return a value or raise ProtocolError/CodecError naming the
problem. Commands built by the gateway round trip through the handler."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import auth, codec, program, protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog
from tests.fuzz_inputs import mutated_bytes

pytestmark = pytest.mark.chaos

DEVICE_ID = bytes(range(1, 7))
LOG_SLOTS = 64
KNOWN_STATUSES = (protocol.STATUS_OK, protocol.STATUS_BAD_LENGTH,
                  protocol.STATUS_UNKNOWN_COMMAND, protocol.STATUS_BAD_ARGUMENT,
                  protocol.STATUS_REFUSED)
SECRET = bytes(range(100, 132))


@dataclass
class Wearable:
    handler: protocol.ProtocolHandler
    log: RecordLog
    clock: DeviceClock
    programs: list[bytes]
    secrets: list[bytes]


def make_wearable(records: int, notify_payload: int = 244, secret: bytes | None = None,
                  encrypted: bool | None = None) -> Wearable:
    log = RecordLog(MemoryStorage(64 + 32 * LOG_SLOTS))
    clock = DeviceClock(log.new_boot())
    for i in range(records):
        log.append(codec.encode_rep(log.next_seq(), 0, 1, 1, 1000 + i, clock.boot, i + 1, 900,
                                    4000, 90))
    programs: list[bytes] = []
    secrets: list[bytes] = []
    handler = protocol.ProtocolHandler(
        log, clock, DEVICE_ID, lambda: 5000, lambda: 64, max_notify_payload=notify_payload,
        on_program=programs.append, on_secret=secrets.append, secret=secret,
        on_forget=lambda: None)
    handler.link_encrypted = encrypted
    return Wearable(handler, log, clock, programs, secrets)


OPCODES = st.sampled_from((protocol.CMD_INFO, protocol.CMD_SET_TIME, protocol.CMD_FETCH,
                           protocol.CMD_ACK, protocol.CMD_SET_PROGRAM, protocol.CMD_SET_SECRET,
                           protocol.CMD_FORGET))


@st.composite
def control_writes(draw: st.DrawFn) -> bytes:
    """A known opcode with a body of any length, or anything at all."""
    if draw(st.booleans()):
        return bytes((draw(OPCODES),)) + draw(st.binary(max_size=60))
    return draw(st.binary(max_size=60))


@settings(max_examples=400)
@given(control_writes(), st.integers(0, 40), st.integers(20, 300),
       st.sampled_from((None, SECRET)), st.sampled_from((None, True, False)))
def test_the_handler_answers_any_write_with_well_formed_frames(
        data: bytes, records: int, notify_payload: int, secret: bytes | None,
        encrypted: bool | None) -> None:
    wearable = make_wearable(records, notify_payload, secret, encrypted)
    frames = wearable.handler.on_write(data)
    op = data[0] if data else 0
    answer = frames[-1]
    assert answer[0] == op | protocol.RESPONSE_BIT
    assert answer[1] in KNOWN_STATUSES
    if answer[1] != protocol.STATUS_OK:
        assert len(answer) == 2  # a failure has no body
        assert len(frames) == 1
    for frame in frames[:-1]:
        assert len(frame) <= max(notify_payload, protocol.MIN_NOTIFY_PAYLOAD)
        protocol.split_records(frame)  # every record frame carries intact records
    if op != protocol.CMD_FETCH:
        assert len(frames) == 1


@settings(max_examples=200)
@given(st.integers(1, 2**32 - 1), st.integers(1, protocol.MAX_FETCH), st.integers(0, 80),
       st.integers(20, 300), st.booleans())
def test_fetch_round_trips_through_the_gateway_parsers(
        from_seq: int, max_records: int, records: int, notify_payload: int,
        signed: bool) -> None:
    wearable = make_wearable(records, notify_payload, SECRET if signed else None)
    frames = wearable.handler.on_write(protocol.cmd_fetch(from_seq, max_records))
    received = [raw for frame in frames[:-1] for raw in protocol.split_records(frame)]
    sent, last_sent, tag = protocol.parse_fetch_end(frames[-1])
    log = wearable.log
    first = max(from_seq, log.oldest_seq())
    expected = list(range(first, log.last_seq + 1))[:max_records]
    assert [codec.seq_of(raw) for raw in received] == expected
    assert sent == len(expected)
    assert last_sent == (expected[-1] if expected else 0)
    if signed:
        assert tag == auth.batch_tag(SECRET, DEVICE_ID, log.log_id, received)
    else:
        assert tag is None


@settings(max_examples=100)
@given(st.integers(0, 2**64 - 1))
def test_set_time_round_trips_or_is_refused_as_too_early(unix_ms: int) -> None:
    wearable = make_wearable(0)
    answer = wearable.handler.on_write(protocol.cmd_set_time(unix_ms))[0]
    if unix_ms < 1_600_000_000_000:
        with pytest.raises(protocol.ProtocolError, match="status 3"):
            protocol.parse_response(answer, protocol.CMD_SET_TIME)
        assert not wearable.clock.time_valid
    else:
        assert protocol.parse_response(answer, protocol.CMD_SET_TIME) == b""
        assert wearable.clock.unix_ms(5000) == unix_ms


@settings(max_examples=100)
@given(st.integers(0, 2**32 - 1), st.integers(0, 40))
def test_ack_round_trips_or_is_refused_beyond_the_last_record(upto: int, records: int) -> None:
    wearable = make_wearable(records)
    answer = wearable.handler.on_write(protocol.cmd_ack(upto))[0]
    if upto > wearable.log.last_seq:
        with pytest.raises(protocol.ProtocolError, match="status 3"):
            protocol.parse_ack(answer)
    else:
        assert protocol.parse_ack(answer) == wearable.log.acked_seq


@settings(max_examples=200)
@given(st.binary(max_size=60))
def test_set_program_stores_exactly_the_programs_that_decode(body: bytes) -> None:
    wearable = make_wearable(0)
    answer = wearable.handler.on_write(bytes((protocol.CMD_SET_PROGRAM,)) + body)[0]
    try:
        program.decode(body)
        valid = program.MIN_PROGRAM_BYTES <= len(body) <= program.MAX_PROGRAM_BYTES
    except ValueError:
        valid = False
    assert (answer[1] == protocol.STATUS_OK) == valid
    assert wearable.programs == ([body] if valid else [])


@settings(max_examples=100)
@given(st.binary(min_size=32, max_size=32), st.sampled_from((None, SECRET)))
def test_set_secret_is_write_once(secret: bytes, held: bytes | None) -> None:
    wearable = make_wearable(0, secret=held)
    status = wearable.handler.on_write(protocol.cmd_set_secret(secret))[0][1]
    if held is not None:
        assert status == (protocol.STATUS_OK if secret == held else protocol.STATUS_REFUSED)
        assert wearable.secrets == []
    elif secret == bytes(32):
        assert status == protocol.STATUS_BAD_ARGUMENT
    else:
        assert status == protocol.STATUS_OK
        assert wearable.secrets == [secret]


# -- the gateway's parsers over arbitrary and broken frames ---------------------------------

GATEWAY_PARSERS = (
    ("info", protocol.parse_info),
    ("fetch end", protocol.parse_fetch_end),
    ("ack", protocol.parse_ack),
    ("set time", lambda f: protocol.parse_response(f, protocol.CMD_SET_TIME)),
    ("records", protocol.split_records),
)
PARSER_REASONS = ("response frame too short", "expected response to", "command 0x",
                  "INFO body must be", "wearable speaks protocol", "FETCH end body must be",
                  "ACK body must be", "not a records frame", "records frame says",
                  "record must be", "record CRC mismatch", "unknown record kind",
                  "record sequence number 0")


def parse_or_reason(parser, frame: bytes) -> object:
    try:
        return parser(frame)
    except (protocol.ProtocolError, codec.CodecError) as e:
        assert str(e).startswith(PARSER_REASONS), str(e)
        return None


@st.composite
def wearable_frames(draw: st.DrawFn) -> bytes:
    """A frame the wearable really sends (INFO, FETCH's, ACK, SET_TIME's answer)."""
    wearable = make_wearable(draw(st.integers(0, 20)),
                             secret=draw(st.sampled_from((None, SECRET))))
    command = draw(st.sampled_from((
        protocol.cmd_info(), protocol.cmd_fetch(1, 8), protocol.cmd_ack(0),
        protocol.cmd_set_time(1_790_000_000_000))))
    return draw(st.sampled_from(wearable.handler.on_write(command)))


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=300), wearable_frames().flatmap(mutated_bytes)))
def test_gateway_parsers_return_or_raise_their_own_errors(frame: bytes) -> None:
    for _name, parser in GATEWAY_PARSERS:
        parse_or_reason(parser, frame)


@settings(max_examples=200)
@given(st.integers(0, 255), st.lists(st.binary(min_size=32, max_size=32), max_size=8))
def test_a_records_frame_whose_count_disagrees_with_its_length_is_refused(
        count: int, records: list[bytes]) -> None:
    frame = bytes((protocol.FRAME_RECORDS, count)) + b"".join(records)
    if count != len(records):
        with pytest.raises(protocol.ProtocolError, match="records frame says"):
            protocol.split_records(frame)
    else:
        parse_or_reason(protocol.split_records, frame)


@settings(max_examples=200)
@given(st.integers(0, 60), st.integers(0, 255))
def test_responses_with_bad_lengths_or_statuses_are_refused(body_size: int, status: int) -> None:
    for op, parser, good_sizes in ((protocol.CMD_INFO, protocol.parse_info,
                                    (protocol.INFO_SIZE,)),
                                   (protocol.CMD_FETCH, protocol.parse_fetch_end,
                                    (protocol.FETCH_END_SIZE, protocol.FETCH_END_SIGNED_SIZE)),
                                   (protocol.CMD_ACK, protocol.parse_ack, (4,))):
        body = bytearray(body_size)
        if body:
            body[0] = protocol.PROTOCOL_VERSION
        frame = bytes((op | protocol.RESPONSE_BIT, status)) + bytes(body)
        if status == protocol.STATUS_OK and body_size in good_sizes:
            parser(frame)
        else:
            with pytest.raises(protocol.ProtocolError):
                parser(frame)


@settings(max_examples=100)
@given(st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1),
       st.integers(0, 100))
def test_info_round_trips(log_id: int, boot: int, uptime_ms: int, battery: int) -> None:
    body = struct.pack(protocol.INFO_FMT, protocol.PROTOCOL_VERSION, DEVICE_ID, log_id, boot,
                       uptime_ms, 0, 1, 2, 1, battery, 0)
    info = protocol.parse_info(bytes((protocol.CMD_INFO | protocol.RESPONSE_BIT, 0)) + body)
    assert (info["log_id"], info["boot"], info["uptime_ms"], info["battery_pct"]) == (
        log_id, boot, uptime_ms, battery)
