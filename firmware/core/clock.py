"""The wearable's notion of time: uptime since boot, plus Unix time once a gateway set it.

The wearable has no battery-backed clock. Until a gateway connects and sets the time after
a boot, records carry milliseconds since boot and no FLAG_TIME_VALID; the gateway resolves
them with the (boot, uptime, Unix time) triple it sees at its next sync (docs/protocol.md).
The caller supplies a monotonic uptime in ms (the device shell accumulates ticks_diff so
ticks_ms wrapping after 12 days does not matter), which keeps this module free of hardware.
"""


class DeviceClock:
    def __init__(self, boot: int) -> None:
        self.boot = boot
        self._offset_ms = 0  # unix_ms - uptime_ms, valid once set
        self.time_valid = False

    def set_unix_ms(self, unix_ms: int, uptime_ms: int) -> None:
        self._offset_ms = unix_ms - uptime_ms
        self.time_valid = True

    def stamp(self, uptime_ms: int) -> int:
        """Timestamp for a record made now: Unix ms if known, else uptime ms."""
        return uptime_ms + self._offset_ms if self.time_valid else uptime_ms

    def unix_ms(self, uptime_ms: int) -> int:
        """Unix ms now, or 0 if the time is not known since boot."""
        return uptime_ms + self._offset_ms if self.time_valid else 0
