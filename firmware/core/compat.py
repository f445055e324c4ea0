"""The few names that differ between MicroPython and CPython.

Everything in ``firmware.core`` imports them from here, so the core runs unchanged on
the wearable, under the MicroPython WebAssembly port in tests, and inside the gateway.
"""

try:
    from micropython import const  # type: ignore[import-not-found]
except ImportError:  # CPython

    def const(value: int) -> int:  # type: ignore[misc]
        return value


__all__ = ["const"]
