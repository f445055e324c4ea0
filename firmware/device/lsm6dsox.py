"""LSM6DSOX 6-axis IMU on I2C: presence check, FIFO batches in the core's units, wake-on-motion.

The bus is injected (`machine.I2C` on the wearable, a register fake in the host tests), so this
module never imports `machine`. hardware/imu_config.md explains every register value written
here; change the two together.

Units out: acceleration in mg and angular rate in 0.1 deg/s, the units of firmware.core.counter,
as small ints computed without floats (MicroPython boxes every float on the heap). `read_fifo()`
decodes into the preallocated `samples` array, six values per sample (ax, ay, az, gx, gy, gz),
so the per-sample path allocates nothing.
"""

from array import array

from firmware.core.compat import const

WHO_AM_I_VALUE = const(0x6C)
DEFAULT_ADDRESS = const(0x6A)  # SDO/SA0 low; 0x6B with SDO/SA0 high

# Register map (DS12814, section 8 "Register mapping").
_FIFO_CTRL1 = const(0x07)  # watermark, bits 7:0 (in FIFO words)
_FIFO_CTRL2 = const(0x08)  # bit 0: watermark bit 8
_FIFO_CTRL3 = const(0x09)  # BDR_GY 7:4, BDR_XL 3:0
_FIFO_CTRL4 = const(0x0A)  # FIFO_MODE 2:0
_INT1_CTRL = const(0x0D)
_WHO_AM_I = const(0x0F)
_CTRL1_XL = const(0x10)  # ODR_XL 7:4, FS_XL 3:2, LPF2_XL_EN 1
_CTRL2_G = const(0x11)  # ODR_G 7:4, FS_G 3:2
_CTRL3_C = const(0x12)
_CTRL4_C = const(0x13)
_CTRL6_C = const(0x15)  # XL_HM_MODE 4 (1 = accelerometer high-performance off)
_CTRL7_G = const(0x16)  # G_HM_MODE 7 (1 = gyroscope high-performance off)
_CTRL8_XL = const(0x17)  # HPCF_XL 7:5 (LPF2 bandwidth)
_CTRL9_XL = const(0x18)
_WAKE_UP_SRC = const(0x1B)
_FIFO_STATUS1 = const(0x3A)  # DIFF_FIFO 7:0, then FIFO_STATUS2
_TAP_CFG0 = const(0x56)
_TAP_CFG2 = const(0x58)
_WAKE_UP_THS = const(0x5B)
_WAKE_UP_DUR = const(0x5C)
_MD1_CFG = const(0x5E)
_FIFO_DATA_OUT_TAG = const(0x78)  # tag, then X_L .. Z_H: 7 bytes a word; reads roll over

_SW_RESET = const(0x01)
_BDU_IF_INC = const(0x44)  # CTRL3_C: block data update, address auto-increment; INT push-pull high
_CTRL9_I3C_OFF = const(0xE2)  # CTRL9_XL reset value 0xE0 plus I3C_disable
_LPF2_XL_EN = const(0x02)
_XL_LOW_POWER = const(0x10)  # CTRL6_C XL_HM_MODE
_FIFO_BYPASS = const(0x00)
_FIFO_CONTINUOUS = const(0x06)
_INT1_FIFO_TH = const(0x08)
_FIFO_OVR_IA = const(0x40)  # FIFO_STATUS2
_TAP_CFG0_LATCHED = const(0x41)  # INT_CLR_ON_READ | LIR: INT1 stays high until WAKE_UP_SRC read
_INTERRUPTS_ENABLE = const(0x80)  # TAP_CFG2
_INT1_WU = const(0x20)  # MD1_CFG
_WU_IA = const(0x08)  # WAKE_UP_SRC: wake-up event

_TAG_GYRO = const(0x01)  # FIFO tag sensor codes (TAG_SENSOR, bits 7:3 of the tag byte)
_TAG_ACCEL = const(0x02)
_WORD_BYTES = const(7)
_HAVE_ACCEL = const(1)
_HAVE_GYRO = const(2)
_HAVE_BOTH = const(3)
_RESET_POLLS = const(20)

# Output data rate: register code for each supported rate (Hz); 12 stands for 12.5 Hz.
_ODR_CODE = {12: 0x1, 26: 0x2, 52: 0x3, 104: 0x4, 208: 0x5}
_ODR_WAKE = const(0x1)  # 12.5 Hz for wake-on-motion
# Full-scale codes. FS_XL: 00 = 2 g, 10 = 4 g, 11 = 8 g, 01 = 16 g (XL_FS_MODE = 0).
_ACCEL_FS_CODE = {2: 0b00, 4: 0b10, 8: 0b11, 16: 0b01}
_GYRO_FS_CODE = {250: 0b00, 500: 0b01, 1000: 0b10, 2000: 0b11}


class LSM6DSOX:
    """The IMU. Construction checks WHO_AM_I (OSError with a message if absent or another
    part), resets it and leaves both sensors powered down; then `start()` for a set,
    `wake_on_motion()` before sleeping, `power_down()` otherwise."""

    def __init__(self, i2c, address: int = DEFAULT_ADDRESS, odr_hz: int = 52,
                 accel_fs_g: int = 4, gyro_fs_dps: int = 500, batch_samples: int = 26,
                 max_samples: int = 64) -> None:
        if odr_hz not in _ODR_CODE:
            raise ValueError("LSM6DSOX: ODR %d Hz not in %s" % (odr_hz, sorted(_ODR_CODE)))
        if accel_fs_g not in _ACCEL_FS_CODE or gyro_fs_dps not in _GYRO_FS_CODE:
            raise ValueError("LSM6DSOX: unsupported full scale %d g / %d dps"
                             % (accel_fs_g, gyro_fs_dps))
        if not 1 <= batch_samples <= max_samples:
            raise ValueError("LSM6DSOX: batch of %d samples outside 1..%d"
                             % (batch_samples, max_samples))
        self._i2c = i2c
        self.address = address
        self.odr_hz = odr_hz
        self.accel_fs_g = accel_fs_g
        self._odr = _ODR_CODE[odr_hz]
        self._fs_xl = _ACCEL_FS_CODE[accel_fs_g]
        self._fs_g = _GYRO_FS_CODE[gyro_fs_dps]
        # mg = raw * FS_g * 1000 / 32768 = raw * FS_g * 125 / 4096 (the nominal 0.122 mg/LSB
        # at 4 g). 0.1 dps = raw * FS_dps * 7 / 20000 (17.5 mdps/LSB at 500 dps). Both
        # numerators stay below 2**30 for raw up to 32768: small ints on a 32-bit port.
        self._accel_num = accel_fs_g * 125
        self._gyro_num = gyro_fs_dps * 7
        self._watermark_words = 2 * batch_samples  # one accelerometer + one gyroscope word
        self._max_words = 2 * max_samples
        self._max_samples = max_samples
        self._one = bytearray(1)
        self._status = bytearray(2)
        self._buf = bytearray(self._max_words * _WORD_BYTES)
        self._view = memoryview(self._buf)
        self.samples = array("h", [0] * (6 * max_samples))
        self._pending = array("h", [0] * 6)  # the time slot being assembled
        self._have = 0
        self._slot = -1
        self.overruns = 0  # FIFO overflowed: the oldest samples were lost (read too late)
        self.dropped = 0  # samples that did not fit into `samples` (max_samples too small)
        self._check_presence()
        self.reset()

    # -- bus ----------------------------------------------------------------------------
    def _write(self, reg: int, value: int) -> None:
        self._one[0] = value
        self._i2c.writeto_mem(self.address, reg, self._one)

    def _read(self, reg: int) -> int:
        self._i2c.readfrom_mem_into(self.address, reg, self._one)
        return self._one[0]

    def _check_presence(self) -> None:
        try:
            who = self._read(_WHO_AM_I)
        except OSError as exc:
            raise OSError("LSM6DSOX: no answer at I2C address 0x%02x (%s): check power, "
                          "SDA/SCL wiring and the SDO/SA0 level" % (self.address, exc)) from exc
        if who != WHO_AM_I_VALUE:
            raise OSError("LSM6DSOX: WHO_AM_I at 0x%02x reads 0x%02x, expected 0x%02x: "
                          "a different sensor answers at this address"
                          % (self.address, who, WHO_AM_I_VALUE))

    # -- modes --------------------------------------------------------------------------
    def reset(self) -> None:
        """Software reset, then the settings every mode shares; both sensors powered down."""
        self._write(_CTRL3_C, _SW_RESET)
        for _ in range(_RESET_POLLS):
            if not self._read(_CTRL3_C) & _SW_RESET:
                break
        else:
            raise OSError("LSM6DSOX: software reset did not complete")
        self._write(_CTRL3_C, _BDU_IF_INC)
        self._write(_CTRL9_XL, _CTRL9_I3C_OFF)
        self._have = 0
        self._slot = -1

    def start(self) -> None:
        """Both sensors at `odr_hz`, batched into the FIFO in continuous mode; INT1 rises at
        the watermark. Clears the FIFO, so a set starts with fresh samples."""
        self._disable_wake()
        self._write(_FIFO_CTRL4, _FIFO_BYPASS)  # bypass empties the FIFO
        self._write(_FIFO_CTRL1, self._watermark_words & 0xFF)
        self._write(_FIFO_CTRL2, (self._watermark_words >> 8) & 0x01)
        self._write(_FIFO_CTRL3, (self._odr << 4) | self._odr)
        self._write(_CTRL6_C, 0)  # accelerometer high-performance: analog anti-aliasing
        self._write(_CTRL7_G, 0)  # gyroscope high-performance
        self._write(_CTRL4_C, 0)  # gyroscope LPF1 not selected (bandwidth set by the ODR)
        self._write(_CTRL8_XL, 0)  # LPF2 bandwidth ODR/4 (13 Hz at 52 Hz)
        self._write(_CTRL1_XL, (self._odr << 4) | (self._fs_xl << 2) | _LPF2_XL_EN)
        self._write(_CTRL2_G, (self._odr << 4) | (self._fs_g << 2))
        self._write(_FIFO_CTRL4, _FIFO_CONTINUOUS)
        self._write(_INT1_CTRL, _INT1_FIFO_TH)
        self._have = 0
        self._slot = -1

    def wake_on_motion(self, threshold_mg: int = 125, duration_samples: int = 1) -> None:
        """Gyroscope off, accelerometer alone at 12.5 Hz low-power, FIFO off; INT1 goes high
        and stays high (latched) when the slope of any axis exceeds `threshold_mg` for more
        than `duration_samples` samples (80 ms each). Used before deep sleep and when idle."""
        step_mg = self.accel_fs_g * 1000 // 64  # WK_THS LSB with WAKE_THS_W = 0
        ths = threshold_mg // step_mg
        if ths < 1:
            ths = 1
        elif ths > 63:
            ths = 63
        self._write(_INT1_CTRL, 0)
        self._write(_FIFO_CTRL4, _FIFO_BYPASS)
        self._write(_CTRL2_G, 0)
        self._write(_CTRL6_C, _XL_LOW_POWER)
        self._write(_CTRL1_XL, (_ODR_WAKE << 4) | (self._fs_xl << 2))
        self._write(_TAP_CFG0, _TAP_CFG0_LATCHED)
        self._write(_WAKE_UP_THS, ths)
        self._write(_WAKE_UP_DUR, (duration_samples & 0x03) << 5)
        self._write(_TAP_CFG2, _INTERRUPTS_ENABLE)
        self._write(_MD1_CFG, _INT1_WU)
        self.clear_motion()

    def clear_motion(self) -> bool:
        """Read (and so release) the latched wake-up interrupt; True if motion was seen."""
        return bool(self._read(_WAKE_UP_SRC) & _WU_IA)

    def power_down(self) -> None:
        """Both sensors off (about 3 uA), no interrupts."""
        self._disable_wake()
        self._write(_INT1_CTRL, 0)
        self._write(_FIFO_CTRL4, _FIFO_BYPASS)
        self._write(_CTRL1_XL, 0)
        self._write(_CTRL2_G, 0)

    def _disable_wake(self) -> None:
        self._write(_MD1_CFG, 0)
        self._write(_TAP_CFG2, 0)

    # -- FIFO ---------------------------------------------------------------------------
    def fifo_words(self) -> int:
        """Words waiting in the FIFO (one word = one sensor's three axes)."""
        self._i2c.readfrom_mem_into(self.address, _FIFO_STATUS1, self._status)
        if self._status[1] & _FIFO_OVR_IA:
            self.overruns += 1
        return self._status[0] | ((self._status[1] & 0x03) << 8)

    def read_fifo(self) -> int:
        """Read what the FIFO holds (at most `2 * max_samples` words) and decode it into
        `samples`; returns the number of complete samples, oldest first. A time slot whose
        second word is still in the FIFO is completed by the next call."""
        words = self.fifo_words()
        if words > self._max_words:
            words = self._max_words
        if words == 0:
            return 0
        n_bytes = words * _WORD_BYTES
        # One burst: the FIFO output address rolls over from 0x7E back to the tag at 0x78.
        # Slicing makes one small memoryview per batch, never per sample.
        view = self._view if n_bytes == len(self._buf) else self._view[:n_bytes]
        self._i2c.readfrom_mem_into(self.address, _FIFO_DATA_OUT_TAG, view)
        return self.decode(words)

    def decode(self, words: int) -> int:
        """Decode `words` FIFO words from the read buffer into `samples` (no allocation).

        Words of one time slot share TAG_CNT. A sample is emitted when its slot has both
        words; a slot with an accelerometer word but no gyroscope word (the gyroscope starts
        later than the accelerometer) is emitted with the last gyroscope values. Tags other
        than the two sensors (timestamp, temperature, config change) are skipped."""
        buf = self._buf
        pend = self._pending
        have = self._have
        slot = self._slot
        n = 0
        i = 0
        for _ in range(words):
            tag = buf[i]
            sensor = tag >> 3
            if sensor == _TAG_ACCEL or sensor == _TAG_GYRO:  # noqa: SIM109 - no tuple per word
                cnt = (tag >> 1) & 0x03
                if cnt != slot:
                    if have & _HAVE_ACCEL:
                        n = self._emit(n)
                    have = 0
                    slot = cnt
                x = buf[i + 1] | (buf[i + 2] << 8)
                y = buf[i + 3] | (buf[i + 4] << 8)
                z = buf[i + 5] | (buf[i + 6] << 8)
                if x > 32767:
                    x -= 65536
                if y > 32767:
                    y -= 65536
                if z > 32767:
                    z -= 65536
                if sensor == _TAG_ACCEL:
                    k = self._accel_num
                    pend[0] = (x * k + 2048) >> 12
                    pend[1] = (y * k + 2048) >> 12
                    pend[2] = (z * k + 2048) >> 12
                    have |= _HAVE_ACCEL
                else:
                    k = self._gyro_num
                    pend[3] = (x * k + 10000) // 20000
                    pend[4] = (y * k + 10000) // 20000
                    pend[5] = (z * k + 10000) // 20000
                    have |= _HAVE_GYRO
                if have == _HAVE_BOTH:
                    n = self._emit(n)
                    have = 0
            i += _WORD_BYTES
        self._have = have
        self._slot = slot
        return n

    def _emit(self, n: int) -> int:
        if n >= self._max_samples:
            self.dropped += 1
            return n
        out = self.samples
        pend = self._pending
        j = n * 6
        out[j] = pend[0]
        out[j + 1] = pend[1]
        out[j + 2] = pend[2]
        out[j + 3] = pend[3]
        out[j + 4] = pend[4]
        out[j + 5] = pend[5]
        return n + 1
