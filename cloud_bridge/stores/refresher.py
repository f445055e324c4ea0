"""A daemon thread (cloud_bridge/ticker.py) that calls a store's refresh every few seconds,
so that the bridge's writes only append markers and the recounting happens beside them,
never in their way.

Started lazily by the store's first write (a clinician CLI that only reads never starts
one), stopped by the store's close(). It never dies of an error: it logs and tries again
at the next tick (the work left undone stays marked in the database).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cloud_bridge.stores.base import DailyZoneMismatch, StoreError
from cloud_bridge.ticker import Ticker

log = logging.getLogger(__name__)


class Refresher(Ticker):
    def __init__(self, refresh: Callable[[], int], every_s: float, name: str) -> None:
        super().__init__(self._refresh_logged, every_s, name)
        self._refresh = refresh

    def _refresh_logged(self) -> bool:
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
        return True  # runs until the store is closed
