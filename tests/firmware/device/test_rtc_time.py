import time

from firmware.device.rtc_time import RtcTime


class FakeRTC:
    def __init__(self):
        self.dt = (2000, 1, 1, 5, 0, 0, 0, 0)
        self.mem = b""

    def datetime(self, value=None):
        if value is None:
            return self.dt
        self.dt = value

    def memory(self, value=None):
        if value is None:
            return self.mem
        self.mem = bytes(value)


def test_unknown_until_a_gateway_set_it():
    assert RtcTime(FakeRTC(), time.gmtime, 1970).unix_ms() is None


def test_round_trip_to_the_millisecond_on_both_epochs():
    for epoch_year, gm in ((1970, time.gmtime),
                           (2000, lambda s: time.gmtime(s + 946684800))):
        rtc = FakeRTC()
        clock = RtcTime(rtc, gm, epoch_year)
        clock.save(1_795_000_123_456)
        assert clock.unix_ms() == 1_795_000_123_456
        assert rtc.dt[:3] == (2026, 11, 18)


def test_power_loss_clears_the_marker():
    rtc = FakeRTC()
    clock = RtcTime(rtc, time.gmtime, 1970)
    clock.save(1_795_000_000_000)
    rtc.mem = b""  # RTC slow memory after a power cycle
    assert clock.unix_ms() is None
