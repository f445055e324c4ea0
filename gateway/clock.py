"""The gateway's wall clock in Unix milliseconds: what the wearable's clock is set to and
what records, messages and the heartbeat are stamped with (tests pass their own)."""

import time

# The times the rest of the system accepts from a gateway: the wearable refuses SET_TIME
# before Sept 2020 (firmware/core/protocol.py), the bridge a message whose clock is not in
# 2020-09..2100 (cloud_bridge/payload.py, docs/mqtt.md).
PLAUSIBLE_FROM_MS = 1_600_000_000_000
PLAUSIBLE_UNTIL_MS = 4_102_444_800_000


class ClockImplausible(ValueError):
    """The gateway's clock reads a time no sync may use (a Pi without RTC before NTP, a
    broken clock): nothing is fetched or acknowledged, the records wait on the wearable."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def check_plausible(unix_ms: int) -> None:
    if not PLAUSIBLE_FROM_MS <= unix_ms <= PLAUSIBLE_UNTIL_MS:
        raise ClockImplausible(f"the gateway's clock reads {unix_ms} ms, outside 2020-09..2100: "
                               "fix its time source (NTP); the records wait on the wearable")
