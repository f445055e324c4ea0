"""InfluxDB 1.x with authentication on (as deployed): the store works with the credentials in
its URL, and without them or with wrong ones says so without losing anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import StoreUnavailable, open_store
from tests.cloud_bridge.stores.test_store_contract import rep
from tests.conftest import running
from tests.services import InfluxDB1

pytestmark = pytest.mark.integration

ADMIN = ("rtm-admin", "s3cret-pw")
DEV = "a1b2c3d4e5f6"
T0 = 1_790_000_000_000


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    yield from running(InfluxDB1(tmp_path_factory.mktemp("influx-auth"), admin=ADMIN))


def record(seq: int) -> StoredRecord:
    return rep(DEV, seq, T0 + seq * 1000)


def seqs(store) -> list[int]:
    return [r.seq for r in store.query([DEV], T0, T0 + 10**6)]


def url(server: InfluxDB1, credentials: str) -> str:
    return f"influxdb1://{credentials}{server.host}:{server.http_port}/rtm_auth"


def test_the_right_credentials_write_and_read(secured):
    store = open_store(url(secured, f"{ADMIN[0]}:{ADMIN[1]}@"))
    store.write([record(1), record(2)])
    assert seqs(store) == [1, 2]
    store.close()


@pytest.mark.parametrize("credentials", ["", f"{ADMIN[0]}:wrong@"], ids=["none", "wrong"])
def test_missing_or_wrong_credentials_are_named_and_nothing_is_lost(secured, credentials):
    store = open_store(url(secured, credentials))
    with pytest.raises(StoreUnavailable, match=r"HTTP 401.*check the credentials"):
        store.write([record(3)])
    store.close()
    # Unavailable, not rejected: the bridge keeps the message and retries; nothing written.
    good = open_store(url(secured, f"{ADMIN[0]}:{ADMIN[1]}@"))
    assert 3 not in seqs(good)
    good.close()
