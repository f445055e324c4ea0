"""Shared fixtures: real servers from tests/services.py. A missing binary fails the test
(with the apt-get line to fix it); CI must run these tests, never skip them."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from cloud_bridge.stores.influx_v1 import InfluxV1Store
from tests.services import InfluxDB1, Mosquitto, Service, ServiceError, TestPki, make_test_pki

S = TypeVar("S", bound=Service)

# Property-based tests (the `chaos` fuzzing tests): the same examples on every run, so CI is
# reproducible, and no example database written into the repository. A deadline catches a
# parser that hangs; `HYPOTHESIS_PROFILE=explore` searches afresh for a local run.
settings.register_profile("ci", derandomize=True, database=None,
                          deadline=timedelta(milliseconds=500), print_blob=True)
settings.register_profile("explore", database=None, deadline=timedelta(milliseconds=500))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
# Hypothesis also caches (constants, Unicode tables) under its home directory, by default
# .hypothesis/ in the working directory: keep that out of the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "rtm-hypothesis")


def running(service: S) -> Iterator[S]:
    """Start `service` for a fixture, stop it after; a service that cannot start fails
    the test with its reason (never a skip)."""
    try:
        service.start()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def mosquitto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A running mosquitto: `.host`, `.port`, `.restart()`, `.stop()`, `.log_path`."""
    yield from running(Mosquitto(tmp_path_factory.mktemp("mosquitto")))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """Throwaway certificates for TLS brokers (tests/services.py's TestPki)."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def influxdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """A running influxd 1.x: `.url` (http://127.0.0.1:PORT), `.log_path`."""
    yield from running(InfluxDB1(tmp_path_factory.mktemp("influxdb")))


@pytest.fixture
def influx_store(influxdb_server: InfluxDB1) -> Iterator[InfluxV1Store]:
    """An InfluxV1Store on a database of its own, dropped after the test."""
    store = InfluxV1Store(influxdb_server.url, f"test_{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        store.close()  # first: its last refresh of the daily totals must find the database
        store.drop_database()
