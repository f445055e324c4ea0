"""A store that is down, then slow: the bridge holds no more than its inbox, the broker
keeps the rest, and once the store is back every record is stored, none twice, none lost."""

import threading
import time
import uuid

import pytest

from cloud_bridge.stores.base import StoreUnavailable
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from gateway.outbox import Outbox
from tests.integration.test_mqtt_pipeline import (
    fill_outbox,
    new_device,
    start_uplink,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.fault]

INBOX_MESSAGES = 4
INBOX_BYTES = 16_384


class DownThenSlowStore(SQLiteStore):
    def __init__(self, path):
        super().__init__(path)
        self.up = threading.Event()
        self.refused = 0

    def write(self, records):
        if not self.up.is_set():
            self.refused += 1
            raise StoreUnavailable("down for the test")
        time.sleep(0.02)  # a slow server
        super().write(records)


def test_a_down_then_slow_store_holds_the_bridge_to_its_inbox_and_loses_nothing(
        tmp_path, mosquitto_broker):
    store = DownThenSlowStore(tmp_path / "s.db")
    bridge = Bridge(store, mosquitto_broker.host, mosquitto_broker.port,
                    client_id=f"bridge-{uuid.uuid4().hex[:8]}", inbox_messages=INBOX_MESSAGES,
                    inbox_bytes=INBOX_BYTES, retry_max_s=0.2)
    bridge.start()
    assert bridge.wait_connected(10)
    device = new_device()
    outbox = Outbox(tmp_path / "o.db")
    fill_outbox(outbox, device, 150, per_batch=10)
    uplink = start_uplink(outbox, mosquitto_broker)
    try:
        assert uplink.drain(30), "the broker takes everything while the store is down"
        assert wait_until(lambda: store.refused >= 3)
        held, held_bytes = bridge.inbox.depth()
        assert held <= INBOX_MESSAGES and held_bytes <= INBOX_BYTES
        assert bridge.stats.snapshot()["records_stored"] == 0
        store.up.set()
        assert wait_until(lambda: bridge.stats.snapshot()["records_stored"] >= 1500, 60)
        assert wait_until(bridge.idle)
    finally:
        uplink.stop()
        bridge.stop()
    stored = store.query([device], 0, 2**62)
    assert [r.seq for r in stored] == list(range(1, 1501))
    assert all(r.values["rep"] == r.seq for r in stored)
    assert bridge.inbox.high_water_items <= INBOX_MESSAGES
    assert bridge.inbox.high_water_size <= INBOX_BYTES
    stats = bridge.stats.snapshot()
    assert stats["store_retries"] >= 3 and stats["rejected"] == {}
    store.close()
