"""The virtual wearable's time across deep sleep (RTC runs on) and power loss (it stops)."""

from firmware.core import codec, protocol
from simulators.wearable import SimClock, VirtualWearable
from tests.sim_helpers import T0_MS, tilt_set


def one_set(w):
    t, acc, gyro = tilt_set(3)
    w.perform_set("squat", t, acc, gyro, 3)
    return [codec.decode(raw) for raw, _ in w.born[-4:]]


def test_time_survives_deep_sleep_but_not_power_loss():
    world = SimClock(T0_MS)
    w = VirtualWearable(bytes(range(6)), world)
    assert not any(r["time_valid"] for r in one_set(w)), "never synced: time unknown"
    w.handler.on_write(protocol.cmd_set_time(world.now_ms))
    world.advance_to(world.now_ms + 3_600_000)
    w.wake_from_deep_sleep()
    recs = one_set(w)
    assert all(r["time_valid"] for r in recs)
    assert [r["t_ms"] for r in recs] == [true for _, true in w.born[-4:]]
    assert recs[0]["boot"] == 2, "each wake is a new boot"
    w.reboot()
    assert not any(r["time_valid"] for r in one_set(w))


def test_the_secret_and_program_survive_a_reboot() -> None:
    w = VirtualWearable(bytes(range(6)), SimClock(T0_MS))
    secret = bytes(range(1, 33))
    assert w.handler.on_write(protocol.cmd_set_secret(secret)) == [b"\x86\x00"]
    w.program = b"p"
    w.reboot()
    assert w.secret == secret and w.handler.secret == secret and w.program == b"p"


def test_the_rtc_keeps_a_wrong_time_and_drifts() -> None:
    """A time set wrong stays wrong across deep sleep (the RTC only counts on), the RTC's
    drift adds to it, and the ground truth is the world's time, not the wearable's."""
    world = SimClock(T0_MS)
    w = VirtualWearable(bytes(range(6)), world)
    w.rtc_drift_ppm = 20_000  # 2 % fast
    day_ms = 86_400_000
    w.handler.on_write(protocol.cmd_set_time(world.now_ms + day_ms))  # a day ahead
    world.advance_to(world.now_ms + 10 * 3_600_000)
    w.wake_from_deep_sleep()
    recs = one_set(w)
    truths = [true for _, true in w.born[-4:]]
    assert all(r["time_valid"] for r in recs)
    drift_ms = 10 * 3_600_000 * 20_000 // 1_000_000
    assert [r["t_ms"] - true for r, true in zip(recs, truths, strict=True)] == \
        [day_ms + drift_ms] * 4
    assert truths[-1] == world.now_ms
