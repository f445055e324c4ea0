"""A daemon thread that calls a store's refresh every few seconds, so that the bridge's
writes only append markers and the recounting happens beside them, never in their way.

Started lazily by the store's first write (a clinician CLI that only reads never starts
one), stopped by the store's close(). It never dies of an error: it logs and tries again
at the next tick (the work left undone stays marked in the database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cloud_bridge.stores.base import DailyZoneMismatch, StoreError

log = logging.getLogger(__name__)


class Refresher:
    def __init__(self, refresh: Callable[[], int], every_s: float, name: str) -> None:
        self._refresh = refresh
        self._every_s = every_s
        self._name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs or was stopped; cheap to call on every write."""
        if self._thread is not None:
            return
        with self._lock:
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
            try:
                written = self._refresh()
            except DailyZoneMismatch as exc:
                log.error("daily totals not refreshed: %s", exc)
            except StoreError as exc:
                log.warning("daily totals not refreshed (retrying in %.0f s): %s",
                            self._every_s, exc)
            except Exception:
                log.exception("daily totals not refreshed: unexpected error")
            else:
                if written:
                    log.debug("daily totals: %d rows written", written)
