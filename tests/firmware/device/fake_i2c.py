"""An I2C bus with one emulated LSM6DSOX: a register file and a FIFO of tagged words.

It implements the three `machine.I2C` methods the driver uses, with the device's addressing
rules: register reads and writes auto-increment (IF_INC), a burst read from FIFO_DATA_OUT_TAG
(0x78) rolls over from 0x7E back to 0x78 and pops one word per 7 bytes, and FIFO_STATUS1/2
report the number of unread words. A wrong address raises OSError as a NACK does on the board.
"""

from __future__ import annotations

import struct
from collections import deque

WHO_AM_I = 0x0F
CTRL3_C = 0x12
CTRL9_XL = 0x18
FIFO_STATUS1 = 0x3A
FIFO_STATUS2 = 0x3B
FIFO_DATA_OUT_TAG = 0x78
ENODEV = 19

TAG_GYRO = 0x01
TAG_ACCEL = 0x02
TAG_TEMPERATURE = 0x03
TAG_TIMESTAMP = 0x04

_RESET_VALUES = {WHO_AM_I: 0x6C, CTRL3_C: 0x04, CTRL9_XL: 0xE0}


def word(sensor: int, slot: int, x: int, y: int, z: int) -> bytes:
    """One FIFO word: tag byte (TAG_SENSOR 7:3, TAG_CNT 2:1, parity 0 left clear) + 3 x int16."""
    return bytes(((sensor << 3) | ((slot & 0x03) << 1),)) + struct.pack("<hhh", x, y, z)


class FakeLSM6DSOX:
    def __init__(self, address: int = 0x6A, who_am_i: int = 0x6C) -> None:
        self.address = address
        self.regs = bytearray(0x80)
        self._reset_registers()
        self.regs[WHO_AM_I] = who_am_i
        self.fifo: deque[bytes] = deque()
        self.overrun = False
        self.writes: list[tuple[int, int]] = []
        self.fifo_reads: list[int] = []  # bytes asked for in each FIFO burst

    def _reset_registers(self) -> None:
        who = self.regs[WHO_AM_I]
        self.regs[:] = bytes(0x80)
        for reg, value in _RESET_VALUES.items():
            self.regs[reg] = value
        if who:
            self.regs[WHO_AM_I] = who

    # -- test side ----------------------------------------------------------------------
    def push(self, *words: bytes) -> None:
        self.fifo.extend(words)

    # -- machine.I2C side ---------------------------------------------------------------
    def _check(self, addr: int) -> None:
        if addr != self.address:
            raise OSError(ENODEV, "ENODEV")

    def writeto_mem(self, addr: int, memaddr: int, buf: bytes | bytearray) -> None:
        self._check(addr)
        for i, value in enumerate(bytes(buf)):
            reg = memaddr + i
            self.writes.append((reg, value))
            if reg == CTRL3_C and value & 0x01:  # SW_RESET: defaults back, bit self-clears
                self._reset_registers()
                self.fifo.clear()
                continue
            self.regs[reg] = value

    def readfrom_mem_into(self, addr: int, memaddr: int, buf: bytearray | memoryview) -> None:
        self._check(addr)
        n = len(buf)
        if memaddr == FIFO_DATA_OUT_TAG:
            self.fifo_reads.append(n)
            data = bytearray()
            while len(data) < n:
                data += self.fifo.popleft() if self.fifo else bytes(7)  # empty: tag 0
            buf[:] = data[:n]
            return
        if memaddr == FIFO_STATUS1:
            words = len(self.fifo)
            status2 = ((words >> 8) & 0x03) | (0x40 if self.overrun else 0)
            self.overrun = False
            out = bytes((words & 0xFF, status2))
            buf[:] = out[:n]
            return
        buf[:] = self.regs[memaddr:memaddr + n]

    def readfrom_mem(self, addr: int, memaddr: int, nbytes: int) -> bytes:
        out = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, out)
        return bytes(out)
