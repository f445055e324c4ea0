"""IMU readings in physical units (s, g, deg/s) -> the firmware's integer sample units, as
the device shell delivers them: a wrapping 30-bit ms tick, acceleration in mg, angular rate
in 0.1 deg/s, clipped to the LSM6DSOX's widest ranges (±16 g, ±2000 deg/s).

The one conversion used by the virtual wearable, `rtm-sim count`, the benchmarks and tests.
"""

from __future__ import annotations

import numpy as np

TICKS_MASK = 0x3FFFFFFF
ACC_LIMIT_MG = 16000
GYRO_LIMIT_DDPS = 20000

Sample = tuple[int, int, int, int, int, int, int]


def motion_units(acc_g: np.ndarray, gyro_dps: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) int arrays in mg and 0.1 deg/s; zeros for the gyro when there is none."""
    acc = np.clip(np.rint(np.asarray(acc_g) * 1000.0), -ACC_LIMIT_MG, ACC_LIMIT_MG).astype(int)
    if gyro_dps is None:
        return acc, np.zeros_like(acc)
    gyro = np.clip(np.rint(np.asarray(gyro_dps) * 10.0), -GYRO_LIMIT_DDPS,
                   GYRO_LIMIT_DDPS).astype(int)
    return acc, gyro


def firmware_samples(t_s: np.ndarray, acc_g: np.ndarray,
                     gyro_dps: np.ndarray | None) -> list[Sample]:
    """(tick, ax, ay, az, gx, gy, gz) per sample, in the units `RepCounter.update` takes."""
    ticks = (np.rint(np.asarray(t_s) * 1000.0).astype(np.int64) & TICKS_MASK)[:, None]
    acc, gyro = motion_units(acc_g, gyro_dps)
    return [tuple(row) for row in np.hstack([ticks, acc, gyro]).astype(int).tolist()]
