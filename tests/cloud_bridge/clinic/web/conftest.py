"""The dashboard over a clinic with known numbers (clinic_data.py), its clock at NOW."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from cloud_bridge.clinic.web.app import DashboardApp, WebConfig
from tests.cloud_bridge.clinic.clinic_builder import StatesStore
from tests.cloud_bridge.clinic.web.clinic_data import NOW, STATES, TZ, Clinic, make_clinic


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
    """make_app(**WebConfig overrides) -> the app on `clinic`, its clock `clock`, its
    store answering clinic_data.STATES for the wearables' states."""
    stores = []

    def make(**overrides: object) -> DashboardApp:
        store = StatesStore(clinic.store, zone=TZ, states=STATES)
        stores.append(store)
        values: dict[str, object] = {"fees_path": clinic.fees, "failed_login_delay_s": 0.0,
                                     "clock": clock}
        values.update(overrides)
        return DashboardApp(WebConfig(store, clinic.registry, clinic.clinic_db, TZ,
                                      **values))  # type: ignore[arg-type]

    yield make
    for s in stores:
        s.close()


# --- browser test artifacts ------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "browser"
_saved: list[Path] = []


@pytest.fixture(scope="session")
def artifacts() -> Callable[[str], Path]:
    """artifacts(name) -> the path to save a screenshot as, under test-artifacts/browser/
    in the repository (git-ignored; CI can keep the directory)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    def path(name: str) -> Path:
        p = ARTIFACTS / name
        _saved.append(p)
        return p

    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    saved = [p for p in _saved if p.exists()]
    if saved:
        terminalreporter.write_line(f"browser screenshots: {len(saved)} in {ARTIFACTS}")
