"""What the InfluxDB 1.x and 2.x/3.x stores share beyond HTTP: reading the daily totals and
device states, keeping the daily totals (influx_daily) and closing them down in bounded time.

A subclass provides `_daily` (InfluxDaily), `_refresher` (Refresher or None), `_closed` and
`_read_statements(statements, epoch)`.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from datetime import date

from cloud_bridge.daily import DailyTotal
from cloud_bridge.device_state import DeviceState
from cloud_bridge.stores import influx_states
from cloud_bridge.stores.base import Store, StoreError
from cloud_bridge.stores.influx_daily import InfluxDaily
from cloud_bridge.stores.influx_results import Series
from cloud_bridge.stores.refresher import Refresher

log = logging.getLogger(__name__)
CLOSE_REFRESH_S = 10.0


class InfluxDailyStore(Store):
    write_waits_on_server = True  # the bridge validates its next batch meanwhile
    _daily: InfluxDaily
    _refresher: Refresher | None
    _closed: bool

    @abstractmethod
    def _read_statements(self, statements: Sequence[str], epoch: str = "ns"
                         ) -> list[list[Series]]:
        """Run InfluxQL statements; their answers, one list of series per statement."""

    def daily_totals(
        self, device_ids: Sequence[str] | None, first_day: date, last_day: date
    ) -> list[DailyTotal]:
        self._check_open()
        return self._daily.totals(device_ids, first_day, last_day)

    def days_with_data(
        self, device_ids: Sequence[str] | None, first_day: date, last_day: date
    ) -> dict[str, set[date]]:
        self._check_open()
        return self._daily.days_with_data(device_ids, first_day, last_day)

    def last_days(self, device_ids: Sequence[str] | None, until: date) -> dict[str, date]:
        self._check_open()
        return self._daily.last_days(device_ids, until)

    def device_states(self, device_ids: Sequence[str] | None, *,
                      recent_ms: int | None = None) -> dict[str, DeviceState]:
        self._check_open()
        return influx_states.read(lambda statements: self._read_statements(statements, "ms"),
                                  device_ids, recent_ms)

    def refresh_daily(self) -> int:
        self._check_open()
        return self._daily.refresh()

    def rebuild_daily(self, since: date | None = None) -> int:
        self._check_open()
        return self._daily.rebuild(since)

    def _close_daily(self) -> None:
        """Stop the refresher and give the daily totals a last, bounded refresh: a stop must
        not wait for a long recount (systemd would kill it); what is left stays marked for
        the next start."""
        daily = self._daily
        if self._refresher is not None:
            daily.interrupt()  # a refresh under way stops at its next pass
            self._refresher.stop()
            daily.resume()
        if daily.pending:
            try:
                daily.refresh(budget_s=CLOSE_REFRESH_S)
            except StoreError as exc:
                log.warning("daily totals not refreshed at close (%s): the next refresh "
                            "catches up from the markers", exc)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")
