"""The gateway's wall clock in Unix milliseconds: what the wearable's clock is set to and
what records, messages and the heartbeat are stamped with (tests pass their own)."""

import time


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
