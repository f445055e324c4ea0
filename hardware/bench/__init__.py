"""Bench tools run on a PC next to a wearable: `calibrate` (IMU offset, scale, gyro bias)."""
