"""Storage for the record log that loses power at a chosen byte of what is written to it.

Two media share one `PowerSupply` (the byte count and the cut):

- `PowerCutFlash`: the log's storage contract itself (``read(offset, n)``, ``write(offset,
  data)``, a region that takes arbitrary overwrites), as `MemoryStorage` does.
- `PowerCutFiles`: a directory of files in RAM standing in for littlefs under the device's
  own `PagedFileStorage`, so the page files' creation at first boot is cut too.

Why there is no erase: on the wearable the log lives in page files on littlefs, which
erases NOR blocks, levels wear and copies on write underneath; the log never erases
anything itself. So a power cut can only hit a write, and it is modelled as harshly as the
contract allows:

- every byte before the cut point reaches the medium, in order;
- the rest of the interrupted write is left in one of three states (`TORN_KEEPS_OLD`: as
  before, which for a file being extended means it stays short; `TORN_ERASED`: 0xFF, an
  erase that completed and a program that did not; `TORN_GARBAGE`: pseudo-random bytes,
  cells whose program or erase was interrupted read back undefined);
- the power stays off: nothing more is written until `power_on()`.

littlefs promises more (a file write is atomic when the file is closed: after a cut a page
holds its old bytes, a file being created is empty), and every one of its outcomes is one
of these (the cut at the first byte of that write), so a log that survives this model
survives the device. Damage outside the range being written (a NOR page erase wiping
neighbouring data) cannot happen through littlefs and is not modelled.

Runs unchanged on CPython and MicroPython (the cut test runs under both).
"""

# MicroPython, as in firmware/ (pyproject.toml): %-formatting is the port-independent way to
# build messages.
# ruff: noqa: UP031

from firmware.core.record_log import MemoryStorage

TORN_KEEPS_OLD = 0
TORN_ERASED = 1
TORN_GARBAGE = 2
TORN_MODE_NAMES = ("keeps-old", "erased", "garbage")

_S_IFREG = 0o100000  # os.stat()[0] of a regular file
_ENOENT = 2
_EEXIST = 17


class PowerCut(BaseException):
    """The power went off during a write. A BaseException, so that no ``except Exception``
    in the firmware can carry on as if the write had happened: a dead CPU runs nothing."""


class PowerSupply:
    """Counts the bytes written since power-on and cuts the power at the armed one."""

    def __init__(self) -> None:
        self.bytes_written = 0
        self.cut_at: int | None = None
        self.torn_mode = TORN_KEEPS_OLD
        self.on = True
        self._garbage_state = 1

    def arm(self, cut_at: int, torn_mode: int = TORN_KEEPS_OLD, seed: int = 1) -> None:
        """Let `cut_at` more bytes through, then cut the power in the write that follows."""
        self.cut_at = self.bytes_written + cut_at
        self.torn_mode = torn_mode
        self._garbage_state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def power_on(self) -> None:
        """Power back: writes go through again, no cut armed, the byte count starts at 0."""
        self.on = True
        self.cut_at = None
        self.bytes_written = 0

    def allow(self, n: int) -> int:
        """How many of the `n` bytes about to be written get through; fewer than `n` means
        the power is now off and the caller must tear the rest and `raise PowerCut`."""
        if not self.on:
            raise PowerCut("write with the power off")
        if self.cut_at is None or self.bytes_written + n <= self.cut_at:
            self.bytes_written += n
            return n
        done = self.cut_at - self.bytes_written
        self.bytes_written = self.cut_at
        self.on = False
        return done

    def torn_byte(self, old: int) -> int:
        """What a byte the interrupted write did not reach reads back as."""
        if self.torn_mode == TORN_KEEPS_OLD:
            return old
        if self.torn_mode == TORN_ERASED:
            return 0xFF
        # xorshift32: deterministic, the same on both interpreters, no `random` module needed.
        x = self._garbage_state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._garbage_state = x
        return x & 0xFF


class PowerCutFlash(MemoryStorage):
    """`MemoryStorage` whose writes go through a `PowerSupply`."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.power = PowerSupply()

    def open_storage(self) -> "PowerCutFlash":
        """The storage a booting wearable hands to `RecordLog` (here: the flash itself)."""
        return self

    def snapshot(self) -> bytes:
        return bytes(self.buf)

    def restore(self, image: bytes) -> None:
        self.buf[:] = image

    def write(self, offset: int, data) -> None:
        n = len(data)
        if offset < 0 or offset + n > self.size:
            raise ValueError("write of %d bytes at %d outside the flash" % (n, offset))
        done = self.power.allow(n)
        self.buf[offset:offset + done] = memoryview(data)[:done]
        if done < n:
            for at in range(offset + done, offset + n):
                self.buf[at] = self.power.torn_byte(self.buf[at])
            raise PowerCut("power cut after %d of %d bytes written at %d" % (done, n, offset))


class PowerCutFiles:
    """Files in RAM with the surface of ``os`` and ``open`` that `PagedFileStorage` uses,
    writes going through a `PowerSupply`.

    Install it as the record log module's ``os`` and ``open`` (pytest's monkeypatch, or
    plain assignment under MicroPython); `open_storage` then builds the device's storage on
    it as `firmware/main.py` does at boot."""

    def __init__(self, directory: str, size: int, page_bytes: int) -> None:
        self.directory = directory
        self.size = size
        self.page_bytes = page_bytes
        self.files: dict = {}  # path -> bytearray
        self.dirs: list = []
        self.power = PowerSupply()

    def open_storage(self):
        from firmware.core.record_log import PagedFileStorage

        return PagedFileStorage(self.directory, self.size, self.page_bytes)

    def snapshot(self) -> tuple:
        return (list(self.dirs), {path: bytes(data) for path, data in self.files.items()})

    def restore(self, image: tuple) -> None:
        self.dirs = list(image[0])
        self.files = {path: bytearray(data) for path, data in image[1].items()}

    # -- the os module ----------------------------------------------------------------
    def mkdir(self, path: str) -> None:
        if path in self.dirs:
            raise OSError(_EEXIST)
        if not self.power.on:
            raise PowerCut("mkdir with the power off")
        self.dirs.append(path)

    def stat(self, path: str) -> tuple:
        if path not in self.files:
            raise OSError(_ENOENT)
        return (_S_IFREG, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)

    # -- the open builtin -------------------------------------------------------------
    def open(self, path: str, mode: str = "r") -> "_RamFile":
        if "w" in mode:
            if not self.power.on:
                raise PowerCut("create with the power off")
            self.files[path] = bytearray()  # created empty at open, as littlefs does
        elif path not in self.files:
            raise OSError(_ENOENT)
        return _RamFile(self, self.files[path], len(self.files[path]) if "a" in mode else 0)


class _RamFile:
    def __init__(self, owner: PowerCutFiles, data: bytearray, position: int) -> None:
        self._owner = owner
        self._data = data
        self._position = position

    def __enter__(self) -> "_RamFile":
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def seek(self, position: int) -> int:
        self._position = position
        return position

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._position + n
        out = bytes(self._data[self._position:end])
        self._position += len(out)
        return out

    def write(self, data) -> int:
        n = len(data)
        power = self._owner.power
        done = power.allow(n)
        at = self._position
        if at > len(self._data):  # a write past the end fills the gap, as a file would
            self._data.extend(bytes(at - len(self._data)))
        end = at + done
        if end > len(self._data):
            self._data.extend(bytes(end - len(self._data)))
        self._data[at:end] = memoryview(data)[:done]
        self._position = end
        if done < n:
            if power.torn_mode != TORN_KEEPS_OLD:  # the file system had allocated it all
                for i in range(end, at + n):
                    old = self._data[i] if i < len(self._data) else 0
                    byte = power.torn_byte(old)
                    if i < len(self._data):
                        self._data[i] = byte
                    else:
                        self._data.append(byte)
            raise PowerCut("power cut after %d of %d bytes written to a file" % (done, n))
        return n
