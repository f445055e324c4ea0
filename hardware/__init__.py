"""Hardware reference design; `hardware.bench` holds the bench tools (IMU calibration)."""
