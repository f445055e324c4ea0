"""The dashboard over a clinic with known numbers (clinic_data.py), its clock at NOW."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from cloud_bridge.clinic.web.app import DashboardApp, WebConfig
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.clinic.web.clinic_data import NOW, TZ, Clinic, make_clinic


class Clock:
    """A settable clock for the app."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clinic(tmp_path: Path) -> Clinic:
    return make_clinic(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def make_app(clinic: Clinic, clock: Clock) -> Iterator[Callable[..., DashboardApp]]:
    """make_app(**WebConfig overrides) -> the app on `clinic`, its clock `clock`."""
    stores = []

    def make(**overrides: object) -> DashboardApp:
        store = SQLiteStore(clinic.store, zone=TZ)
        stores.append(store)
        values: dict[str, object] = {"fees_path": clinic.fees, "failed_login_delay_s": 0.0,
                                     "clock": clock}
        values.update(overrides)
        return DashboardApp(WebConfig(store, clinic.registry, clinic.clinic_db, TZ,
                                      **values))  # type: ignore[arg-type]

    yield make
    for s in stores:
        s.close()

