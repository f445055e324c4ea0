"""The bridge's writer: never dies, acknowledges only what is stored or rejected for good,
and never loses good records of a batch the store refused."""

import time

from cloud_bridge.stores.base import StoreRejected, StoreUnavailable
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge, _Delivery
from gateway import payload as gw_payload
from tests.cloud_bridge.test_payload import DEV, TOPIC, rep


def body(seqs):
    return gw_payload.build("home-1", DEV, [rep(s, 1_790_000_000_000 + s) for s in seqs],
                            2, 100_000, 1_790_000_100_000)


class ScriptedStore(SQLiteStore):
    def __init__(self, path, failures):
        super().__init__(path)
        self.failures = list(failures)

    def write(self, records):
        if self.failures:
            fail = self.failures.pop(0)
            if fail is not None:
                raise fail
        if any(r.seq == 13 for r in records):
            raise StoreRejected("seq 13 is cursed")
        super().write(records)


def run_worker(bridge, deliveries, acks):
    bridge.client.ack = lambda mid, qos: acks.append(mid)
    bridge._worker.start()
    for d in deliveries:
        bridge._pending += 1
        bridge._queue.put(d)
    deadline = time.monotonic() + 10
    while not bridge.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge._stop.set()
    bridge._queue.put(None)
    bridge._worker.join(5)


def test_worker_survives_unexpected_errors_and_keeps_such_messages_unacked(tmp_path):
    store = ScriptedStore(tmp_path / "s.db", [RuntimeError("bug"), None])
    bridge = Bridge(store, "127.0.0.1", 1, retry_max_s=0.01)
    acks = []
    run_worker(bridge, [_Delivery(1, 1, TOPIC, body([1, 2])),
                        _Delivery(2, 1, TOPIC, body([3, 4]))], acks)
    assert acks == [2], "the failed message stays unacknowledged for redelivery"
    assert [r.seq for r in store.query([DEV], 0, 2**62)] == [3, 4]
    assert bridge.stats.snapshot()["rejected"] == {"internal_error": 1}


def test_store_outage_is_retried_then_acknowledged(tmp_path):
    store = ScriptedStore(tmp_path / "s.db", [StoreUnavailable("down"), StoreUnavailable("down")])
    bridge = Bridge(store, "127.0.0.1", 1)
    bridge.retry_max_s = 0.01
    acks = []
    run_worker(bridge, [_Delivery(7, 1, TOPIC, body([1, 2, 3]))], acks)
    assert acks == [7] and len(store.query([DEV], 0, 2**62)) == 3


def test_rejected_batch_loses_only_the_refused_record(tmp_path):
    store = ScriptedStore(tmp_path / "s.db", [])
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [_Delivery(9, 1, TOPIC, body([11, 12, 13, 14]))], acks)
    assert acks == [9]
    assert [r.seq for r in store.query([DEV], 0, 2**62)] == [11, 12, 14]
    assert bridge.stats.snapshot()["rejected"] == {"store_rejected": 1}
