"""Small deterministic motion for tests that need records, not realism."""

import numpy as np

from simulators.wearable import SimClock, VirtualWearable

T0_MS = 1_790_000_000_000


def tilt_set(reps: int, rate_hz: int = 52, rom_deg: float = 70.0, period_s: float = 3.0):
    """`reps` smooth 0 -> rom -> 0 degree tilts with 1 s pauses: (t, acc_g, gyro_dps)."""
    t = np.arange(0, reps * (period_s + 1.0) + 2.0, 1.0 / rate_hz)
    phase = np.mod(t - 1.0, period_s + 1.0)
    ang = np.where((t >= 1.0) & (t < 1.0 + reps * (period_s + 1.0)) & (phase < period_s),
                   np.radians(rom_deg) * 0.5 * (1 - np.cos(2 * np.pi * phase / period_s)), 0.0)
    acc = np.stack([np.zeros_like(t), np.sin(ang), np.cos(ang)], axis=1)
    gyro = np.zeros_like(acc)
    gyro[:, 0] = np.degrees(np.gradient(ang, t))
    return t, acc, gyro


def wearable_with_sets(device_hex: str, sets: list[int], world: SimClock | None = None,
                       log_id: int = 0):
    world = world or SimClock(T0_MS)
    w = VirtualWearable(bytes.fromhex(device_hex), world, log_id=log_id)
    for reps in sets:
        t, acc, gyro = tilt_set(reps)
        assert w.perform_set("squat", t, acc, gyro, reps) == reps
        world.advance_to(world.now_ms + 60_000)
    return w
