"""SET_SECRET (0x06) and FORGET (0x07): enrollment on the wearable's side. The secret is
write-once; a link known to be unencrypted may neither provision nor forget."""

import pytest

from firmware.core import protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog

SECRET = bytes(range(1, 33))
OTHER = bytes(range(2, 34))


class Flash:
    def __init__(self) -> None:
        self.secrets: list[bytes] = []
        self.forgets = 0

    def store(self, secret: bytes) -> None:
        self.secrets.append(secret)

    def forget(self) -> None:
        self.forgets += 1


@pytest.fixture
def device():
    log = RecordLog(MemoryStorage(64 + 32 * 16))
    flash = Flash()
    handler = protocol.ProtocolHandler(log, DeviceClock(log.new_boot()), bytes(range(1, 7)),
                                       lambda: 5000, lambda: 64, on_secret=flash.store,
                                       on_forget=flash.forget)
    return handler, flash


def status(frame: bytes, op: int) -> int:
    assert frame[0] == op | protocol.RESPONSE_BIT and len(frame) == 2
    return frame[1]


def test_first_secret_is_stored_then_answered_ok(device) -> None:
    handler, flash = device
    frames = handler.on_write(protocol.cmd_set_secret(SECRET))
    assert frames == [b"\x86\x00"]
    assert flash.secrets == [SECRET] and handler.secret == SECRET and handler.errors == 0


def test_the_same_secret_again_is_ok_and_not_rewritten(device) -> None:
    handler, flash = device
    handler.on_write(protocol.cmd_set_secret(SECRET))
    assert handler.on_write(protocol.cmd_set_secret(SECRET)) == [b"\x86\x00"]
    assert flash.secrets == [SECRET]


def test_another_secret_is_refused(device) -> None:
    handler, flash = device
    handler.on_write(protocol.cmd_set_secret(SECRET))
    frame = handler.on_write(protocol.cmd_set_secret(OTHER))[0]
    assert status(frame, protocol.CMD_SET_SECRET) == protocol.STATUS_REFUSED
    assert flash.secrets == [SECRET] and handler.secret == SECRET and handler.errors == 1


def test_a_secret_loaded_at_boot_is_kept(device) -> None:
    handler, flash = device
    handler.secret = SECRET  # the shell read it from flash
    frame = handler.on_write(protocol.cmd_set_secret(OTHER))[0]
    assert status(frame, protocol.CMD_SET_SECRET) == protocol.STATUS_REFUSED
    assert flash.secrets == []


def test_an_unencrypted_link_cannot_provision_or_forget(device) -> None:
    handler, flash = device
    handler.link_encrypted = False
    frame = handler.on_write(protocol.cmd_set_secret(SECRET))[0]
    assert status(frame, protocol.CMD_SET_SECRET) == protocol.STATUS_REFUSED
    frame = handler.on_write(protocol.cmd_forget())[0]
    assert status(frame, protocol.CMD_FORGET) == protocol.STATUS_REFUSED
    assert flash.secrets == [] and flash.forgets == 0
    handler.link_encrypted = True
    assert handler.on_write(protocol.cmd_set_secret(SECRET)) == [b"\x86\x00"]
    assert handler.on_write(protocol.cmd_forget()) == [b"\x87\x00"]
    assert flash.forgets == 1


def test_forget_keeps_the_secret(device) -> None:
    handler, _flash = device
    handler.on_write(protocol.cmd_set_secret(SECRET))
    assert handler.on_write(protocol.cmd_forget()) == [b"\x87\x00"]
    assert handler.secret == SECRET
    frame = handler.on_write(protocol.cmd_set_secret(OTHER))[0]
    assert status(frame, protocol.CMD_SET_SECRET) == protocol.STATUS_REFUSED


@pytest.mark.parametrize("data, op", [(b"\x06" + bytes(31), 0x06), (b"\x06" + bytes(33), 0x06),
                                      (b"\x06", 0x06), (b"\x07\x00", 0x07)])
def test_wrong_lengths_are_bad_length(device, data: bytes, op: int) -> None:
    handler, flash = device
    assert status(handler.on_write(data)[0], op) == protocol.STATUS_BAD_LENGTH
    assert flash.secrets == [] and flash.forgets == 0


def test_an_all_zero_secret_is_a_bad_argument(device) -> None:
    handler, flash = device
    frame = handler.on_write(b"\x06" + bytes(32))[0]
    assert status(frame, protocol.CMD_SET_SECRET) == protocol.STATUS_BAD_ARGUMENT
    assert flash.secrets == []


def test_without_storage_the_commands_are_unknown() -> None:
    log = RecordLog(MemoryStorage(64 + 32 * 16))
    handler = protocol.ProtocolHandler(log, DeviceClock(log.new_boot()), bytes(6),
                                       lambda: 0, lambda: 50)
    assert handler.on_write(protocol.cmd_set_secret(SECRET)) == [b"\x86\x02"]
    assert handler.on_write(protocol.cmd_forget()) == [b"\x87\x02"]


def test_a_storage_failure_gives_no_ok_and_no_secret(device) -> None:
    handler, _ = device

    def broken(_secret: bytes) -> None:
        raise OSError(28, "no space")

    handler.on_secret = broken
    with pytest.raises(OSError):
        handler.on_write(protocol.cmd_set_secret(SECRET))
    assert handler.secret is None


def test_the_gateway_side_builds_checked_commands() -> None:
    assert protocol.cmd_set_secret(SECRET) == b"\x06" + SECRET
    assert protocol.cmd_forget() == b"\x07"
    with pytest.raises(ValueError, match="32 bytes"):
        protocol.cmd_set_secret(SECRET[:16])
    with pytest.raises(protocol.ProtocolError, match="status 4"):
        protocol.parse_response(b"\x86\x04", protocol.CMD_SET_SECRET)


SECRET_PROGRAM = """
from firmware.core import protocol
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog
sec_log = RecordLog(MemoryStorage(64 + 32 * 4))
sec_store = []
sec_h = protocol.ProtocolHandler(sec_log, DeviceClock(sec_log.new_boot()), b"abcdef",
                                 lambda: 1, lambda: 2, on_secret=sec_store.append,
                                 on_forget=lambda: sec_store.append(b"forget"))
sec_s = bytes(range(1, 33))
for sec_cmd in (protocol.cmd_set_secret(sec_s), protocol.cmd_set_secret(sec_s),
                protocol.cmd_set_secret(bytes(range(2, 34))), protocol.cmd_forget(), b"\\x06\\x01"):
    print(sec_h.on_write(sec_cmd))
sec_h.link_encrypted = False
print(sec_h.on_write(protocol.cmd_forget()), len(sec_store), sec_h.errors)
"""


@pytest.mark.micropython
def test_same_answers_on_micropython(micropython) -> None:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(SECRET_PROGRAM, {})
    assert micropython.run(SECRET_PROGRAM) == out.getvalue()
