"""The MicroPython-only names the device shell touches, for its CPython tests.

Only the edges are faked: asyncio's ThreadSafeFlag and sleep_ms (install with `install()`),
the wrapping millisecond tick counter (`FakeTicks`). The modules under test are the real ones.
"""

from __future__ import annotations

import asyncio

import pytest

TICKS_PERIOD = 1 << 30  # MicroPython's ticks_ms() period on 32-bit ports


class ThreadSafeFlag:
    """asyncio.ThreadSafeFlag: set() from anywhere, wait() clears it on return."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()


async def sleep_ms(ms: int) -> None:
    await asyncio.sleep(ms / 1000)


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give CPython's asyncio MicroPython's ThreadSafeFlag and sleep_ms for one test."""
    monkeypatch.setattr(asyncio, "ThreadSafeFlag", ThreadSafeFlag, raising=False)
    monkeypatch.setattr(asyncio, "sleep_ms", sleep_ms, raising=False)


class FakeTicks:
    """time.ticks_ms / time.ticks_diff with MicroPython's wrap-around, on a settable clock."""

    def __init__(self, start_ms: int = 0) -> None:
        self.raw_ms = start_ms  # the true, never-wrapping time

    def advance(self, ms: int) -> None:
        self.raw_ms += ms

    def ticks_ms(self) -> int:
        return self.raw_ms & (TICKS_PERIOD - 1)

    @staticmethod
    def ticks_diff(a: int, b: int) -> int:
        half = TICKS_PERIOD // 2
        return ((a - b + half) & (TICKS_PERIOD - 1)) - half
