import pytest

from firmware.core import codec, protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog


@pytest.fixture
def device():
    log = RecordLog(MemoryStorage(64 + 32 * 64))
    clock = DeviceClock(log.new_boot())
    for i in range(20):
        log.append(codec.encode_rep(log.next_seq(), 0, 1, 1, 1000 + i, clock.boot, i + 1, 900,
                                    4000, 90))
    uptime = {"ms": 5000}
    handler = protocol.ProtocolHandler(log, clock, bytes(range(1, 7)), lambda: uptime["ms"],
                                       lambda: 64, max_notify_payload=244)
    return handler, log, clock, uptime


def test_info_reports_the_log_and_clock(device):
    handler, _log, _clock, _ = device
    info = protocol.parse_info(handler.on_write(protocol.cmd_info())[0])
    assert info == {"version": 1, "device_id": bytes(range(1, 7)), "log_id": 0, "boot": 1,
                    "uptime_ms": 5000,
                    "unix_ms": 0, "first_seq": 1, "last_seq": 20, "acked_seq": 0,
                    "battery_pct": 64, "refused": 0}


def test_set_time_makes_timestamps_unix(device):
    handler, _, clock, _uptime = device
    protocol.parse_response(handler.on_write(protocol.cmd_set_time(1790000000000))[0],
                            protocol.CMD_SET_TIME)
    assert clock.time_valid and clock.stamp(6000) == 1790000001000
    bad = handler.on_write(protocol.cmd_set_time(5))[0]
    with pytest.raises(protocol.ProtocolError, match="status 3"):
        protocol.parse_response(bad, protocol.CMD_SET_TIME)


def test_fetch_packs_records_per_mtu_and_ends_with_a_summary(device):
    handler, *_ = device
    frames = handler.on_write(protocol.cmd_fetch(3, 15))
    records = [r for f in frames[:-1] for r in protocol.split_records(f)]
    assert [codec.seq_of(r) for r in records] == list(range(3, 18))
    assert all(len(f) <= 244 for f in frames)
    assert protocol.parse_fetch_end(frames[-1]) == (15, 17, None)


def test_fetch_adapts_to_the_minimum_mtu(device):
    handler, *_ = device
    handler.set_notify_payload(20)  # default ATT MTU: below one record, clamped
    frames = handler.on_write(protocol.cmd_fetch(1, 3))
    assert [len(f) for f in frames[:-1]] == [34, 34, 34]


def test_ack_then_fetch_beyond_end(device):
    handler, log, *_ = device
    assert protocol.parse_ack(handler.on_write(protocol.cmd_ack(20))[0]) == 20
    assert log.acked_seq == 20
    frames = handler.on_write(protocol.cmd_fetch(21, 10))
    assert protocol.parse_fetch_end(frames[-1]) == (0, 0, None)


@pytest.mark.parametrize("frame, status", [
    (b"", protocol.STATUS_BAD_LENGTH),
    (b"\x01\x00", protocol.STATUS_BAD_LENGTH),
    (b"\x03\x01\x00", protocol.STATUS_BAD_LENGTH),
    (protocol.cmd_fetch(0, 5), protocol.STATUS_BAD_ARGUMENT),
    (protocol.cmd_fetch(1, 0), protocol.STATUS_BAD_ARGUMENT),
    (protocol.cmd_ack(21), protocol.STATUS_BAD_ARGUMENT),
    (b"\x55", protocol.STATUS_UNKNOWN_COMMAND),
])
def test_malformed_commands_get_a_status_and_are_counted(device, frame, status):
    handler, log, *_ = device
    out = handler.on_write(frame)
    assert len(out) == 1 and out[0][1] == status
    assert handler.errors == 1 and log.acked_seq == 0


@pytest.mark.parametrize("frame, message", [
    (b"\x81", "too short"),
    (b"\x82\x00", "expected response to 0x01"),
    (b"\x81\x00\x01", "INFO body must be"),
])
def test_gateway_side_parsers_name_the_problem(frame, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse_info(frame)


def test_split_records_checks_length_and_crc():
    rec = bytes(codec.encode_rep(1, 0, 0, 1, 0, 0, 1, 1, 1, 1))
    with pytest.raises(protocol.ProtocolError, match="says 2 records"):
        protocol.split_records(bytes((protocol.FRAME_RECORDS, 2)) + rec)
    broken = rec[:5] + b"\xee" + rec[6:]
    with pytest.raises(codec.CodecError, match="CRC"):
        protocol.split_records(bytes((protocol.FRAME_RECORDS, 1)) + broken)
