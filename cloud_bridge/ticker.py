"""A daemon thread that calls a function every few seconds beside the work that needs it
(the InfluxDB stores' daily refresh, the SQLite store's checkpoints), never in its way.

Started lazily by `start()`, cheap to call on every write (a process that only reads never
starts one); ended by `stop()`, its owner's close(). The function returns whether the thread
is still wanted: on False the thread ends, unless `start()` was called since the tick began
(then it goes on), and the next `start()` begins a new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Ticker:
    def __init__(self, tick: Callable[[], bool], every_s: float, name: str) -> None:
        self._tick = tick
        self._every_s = every_s
        self._name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_again = False

    def start(self) -> None:
        """Start the thread unless it runs or was stopped."""
        with self._lock:
            self._started_again = True
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            with self._lock:
                self._started_again = False
            if self._tick():
                continue
            with self._lock:
                if not self._started_again:
                    self._thread = None
                    return
