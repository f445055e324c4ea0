"""SET_PROGRAM (0x05): the gateway loads the home exercise program onto the wearable."""

import pytest

from firmware.core import program, protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog

PROGRAM = program.encode([(1, 3, 10, 9000, 60), (4, 2, 15, 0, 30)], utc_offset_min=120)


@pytest.fixture
def device():
    log = RecordLog(MemoryStorage(64 + 32 * 16))
    stored: list[bytes] = []
    handler = protocol.ProtocolHandler(log, DeviceClock(log.new_boot()), bytes(range(1, 7)),
                                       lambda: 5000, lambda: 64, on_program=stored.append)
    return handler, stored


def test_a_valid_program_is_stored_and_answered_ok(device) -> None:
    handler, stored = device
    frames = handler.on_write(protocol.cmd_set_program(PROGRAM))
    assert frames == [bytes((0x85, protocol.STATUS_OK))]
    assert protocol.parse_response(frames[0], protocol.CMD_SET_PROGRAM) == b""
    assert stored == [PROGRAM] and handler.errors == 0


def test_the_command_frame_is_opcode_then_program() -> None:
    assert protocol.cmd_set_program(PROGRAM) == b"\x05" + PROGRAM
    with pytest.raises(ValueError, match="CRC"):
        protocol.cmd_set_program(PROGRAM[:-1] + b"\x00")


def test_an_empty_program_clears_it(device) -> None:
    handler, stored = device
    empty = program.encode([])
    assert handler.on_write(protocol.cmd_set_program(empty)) == [b"\x85\x00"]
    assert stored == [empty]


def test_a_corrupt_program_is_a_bad_argument_and_not_stored(device) -> None:
    handler, stored = device
    bad = b"\x05" + PROGRAM[:-1] + bytes((PROGRAM[-1] ^ 0xFF,))
    frame = handler.on_write(bad)[0]
    assert frame == bytes((0x85, protocol.STATUS_BAD_ARGUMENT))
    with pytest.raises(protocol.ProtocolError, match="status 3"):
        protocol.parse_response(frame, protocol.CMD_SET_PROGRAM)
    assert stored == [] and handler.errors == 1


@pytest.mark.parametrize("body", [b"", b"\x01\x00\x00", bytes(program.MAX_PROGRAM_BYTES + 1)])
def test_a_body_of_impossible_length_is_a_bad_length(device, body: bytes) -> None:
    handler, stored = device
    assert handler.on_write(b"\x05" + body) == [bytes((0x85, protocol.STATUS_BAD_LENGTH))]
    assert stored == []


def test_without_storage_the_command_is_unknown() -> None:
    log = RecordLog(MemoryStorage(64 + 32 * 16))
    handler = protocol.ProtocolHandler(log, DeviceClock(log.new_boot()), bytes(6),
                                       lambda: 0, lambda: 50)
    assert handler.on_write(protocol.cmd_set_program(PROGRAM)) == [
        bytes((0x85, protocol.STATUS_UNKNOWN_COMMAND))]


def test_a_storage_failure_gives_no_ok(device) -> None:
    handler, _ = device

    def broken(_data: bytes) -> None:
        raise OSError(28, "no space")

    handler.on_program = broken
    with pytest.raises(OSError):
        handler.on_write(protocol.cmd_set_program(PROGRAM))


