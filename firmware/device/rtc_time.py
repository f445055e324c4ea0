"""Unix time kept across deep sleep in the ESP32's RTC.

Each wake from deep sleep is a new boot for the firmware (RAM is gone), but the RTC keeps
counting, and its slow memory keeps a marker saying a gateway set it. A power loss clears
both, and the firmware then knows it does not know the time. The RTC's slow clock drifts
(a few per cent on the internal oscillator), so each sync sets it again.

`rtc` is injected (machine.RTC() on the device, a fake in tests); `gmtime`/`epoch_year` too.
"""

from firmware.core.compat import const

_MARK = b"RTMT1"
_MS_PER_S = const(1000)
_DAYS_1970_TO_2000 = const(10957)


class RtcTime:
    def __init__(self, rtc, gmtime=None, epoch_year=None) -> None:
        if gmtime is None or epoch_year is None:
            import time

            gmtime = time.gmtime
            epoch_year = time.gmtime(0)[0]  # 1970 on current ports, 2000 on older ones
        self._rtc = rtc
        self._gmtime = gmtime
        self._epoch_offset_s = 0 if epoch_year == 1970 else _DAYS_1970_TO_2000 * 86400

    def save(self, unix_ms: int) -> None:
        """Set the RTC to `unix_ms` and mark it valid (called when a gateway sets the time)."""
        t = self._gmtime(unix_ms // _MS_PER_S - self._epoch_offset_s)
        # RTC.datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds)
        self._rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5],
                            (unix_ms % _MS_PER_S) * 1000))
        self._rtc.memory(_MARK)

    def unix_ms(self):
        """Unix time in ms from the RTC, or None if no gateway set it since power-up."""
        if bytes(self._rtc.memory()[:len(_MARK)]) != _MARK:
            return None
        y, mo, d, _wd, h, mi, s, us = self._rtc.datetime()
        return (_days_since_1970(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * _MS_PER_S \
            + us // 1000


def _days_since_1970(y: int, m: int, d: int) -> int:
    # Days from civil date (proleptic Gregorian), integer only.
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
