"""The wearable's notion of time: uptime since boot, plus Unix time once a gateway set it.

The wearable has no battery-backed clock: its RTC runs on through deep sleep, not through a
power loss. After a wake from deep sleep the shell restores the time from the RTC; after a
power loss, until a gateway connects and sets the time, records carry milliseconds since
boot and no FLAG_TIME_VALID, and the bridge resolves them with the (boot, uptime, Unix time)
triple the gateway saw at its sync, or flags them (docs/protocol.md).
The caller supplies a monotonic uptime in ms (the device shell accumulates ticks_diff so
ticks_ms wrapping after 12 days does not matter), which keeps this module free of hardware.
"""


class DeviceClock:
    def __init__(self, boot: int, on_set=None) -> None:
        """`on_set(unix_ms)`, if given, is called whenever a gateway sets the time (the
        device shell keeps it in the RTC, which runs on through deep sleep)."""
        self.boot = boot
        self._offset_ms = 0  # unix_ms - uptime_ms, valid once set
        self.time_valid = False
        self._on_set = on_set

    def set_unix_ms(self, unix_ms: int, uptime_ms: int) -> None:
        self._offset_ms = unix_ms - uptime_ms
        self.time_valid = True
        if self._on_set is not None:
            self._on_set(unix_ms)

    def restore_unix_ms(self, unix_ms: int, uptime_ms: int) -> None:
        """Take the time from a clock that kept running while we slept (no `on_set`)."""
        self._offset_ms = unix_ms - uptime_ms
        self.time_valid = True

    def stamp(self, uptime_ms: int) -> int:
        """Timestamp for a record made now: Unix ms if known, else uptime ms."""
        return uptime_ms + self._offset_ms if self.time_valid else uptime_ms

    def unix_ms(self, uptime_ms: int) -> int:
        """Unix ms now, or 0 if the time is not known since boot."""
        return uptime_ms + self._offset_ms if self.time_valid else 0
