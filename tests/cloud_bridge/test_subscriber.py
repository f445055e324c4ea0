"""The bridge's writer: never dies, acknowledges only what is stored or rejected for good,
and never loses good records of a batch the store refused."""

import threading
import time

from cloud_bridge.inbox import Delivery
from cloud_bridge.stores.base import StoreRejected, StoreUnavailable
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
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
    for d in deliveries:  # all waiting when the writer starts: one batch
        bridge._pending += 1
        bridge.inbox.put(d)
    for worker in bridge._workers:
        worker.start()
    stop_when_idle(bridge, 10)


def stop_when_idle(bridge, timeout_s=5):
    """Wait until every delivered message is handled, then stop the writer threads."""
    deadline = time.monotonic() + timeout_s
    while not bridge.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge._stop.set()
    bridge.inbox.close()
    for worker in bridge._workers:
        worker.join(5)


class BuggyStore(SQLiteStore):
    """Fails with an unexpected error whenever a write holds seq 1: a bug some data sets off."""

    def write(self, records):
        if any(r.seq == 1 for r in records):
            raise RuntimeError("bug")
        super().write(records)


def test_worker_survives_unexpected_errors_and_keeps_such_messages_unacked(tmp_path):
    store = BuggyStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1, retry_max_s=0.01)
    acks = []
    run_worker(bridge, [Delivery(1, 1, TOPIC, body([1, 2])),
                        Delivery(2, 1, TOPIC, body([3, 4]))], acks)
    assert acks == [2], "the failed message stays unacknowledged for redelivery"
    assert [r.seq for r in store.query([DEV], 0, 2**62)] == [3, 4]
    assert bridge.stats.snapshot()["rejected"] == {"internal_error": 1}


def test_messages_waiting_together_are_written_in_one_call_and_acked_in_order(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [Delivery(mid, 1, TOPIC, body([2 * mid, 2 * mid + 1]))
                        for mid in range(1, 21)], acks)
    assert acks == list(range(1, 21))
    assert [r.seq for r in store.query([DEV], 0, 2**62)] == list(range(2, 42))
    stats = bridge.stats.snapshot()
    assert stats["records_stored"] == 40 and stats["store_writes"] == 1


def test_a_batch_the_store_refuses_is_written_message_by_message(tmp_path):
    store = ScriptedStore(tmp_path / "s.db", [])
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [Delivery(1, 1, TOPIC, body([10, 11])),
                        Delivery(2, 1, TOPIC, body([12, 13])),
                        Delivery(3, 1, TOPIC, body([14]))], acks)
    assert acks == [1, 2, 3]
    assert [r.seq for r in store.query([DEV], 0, 2**62)] == [10, 11, 12, 14]
    assert bridge.stats.snapshot()["rejected"] == {"store_rejected": 1}


def test_store_outage_is_retried_then_acknowledged(tmp_path):
    store = ScriptedStore(tmp_path / "s.db", [StoreUnavailable("down"), StoreUnavailable("down")])
    bridge = Bridge(store, "127.0.0.1", 1)
    bridge.retry_max_s = 0.01
    acks = []
    run_worker(bridge, [Delivery(7, 1, TOPIC, body([1, 2, 3]))], acks)
    assert acks == [7] and len(store.query([DEV], 0, 2**62)) == 3


def test_rejected_batch_loses_only_the_refused_record(tmp_path):
    store = ScriptedStore(tmp_path / "s.db", [])
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [Delivery(9, 1, TOPIC, body([11, 12, 13, 14]))], acks)
    assert acks == [9]
    assert [r.seq for r in store.query([DEV], 0, 2**62)] == [11, 12, 14]
    assert bridge.stats.snapshot()["rejected"] == {"store_rejected": 1}


class ServerLikeStore(SQLiteStore):
    """A store whose writes wait on a server: the bridge validates the next batch meanwhile.
    Each write waits until the test lets it go."""

    write_waits_on_server = True

    def __init__(self, path):
        super().__init__(path)
        self.writing = threading.Event()
        self.go = threading.Event()

    def write(self, records):
        self.writing.set()
        assert self.go.wait(10)
        super().write(records)


def test_with_a_server_store_the_next_batch_is_checked_against_the_one_being_written(
        tmp_path):
    """A copy of a batch that arrives while the store is still writing it is a replay, and a
    changed copy a conflict, although neither original is in the key file yet."""
    from cloud_bridge.device_keys import ENROLLED, DeviceKeys, EnrollmentMessage
    from tests.cloud_bridge.test_integrity import DEV as SIGNED_DEV
    from tests.cloud_bridge.test_integrity import GW, SECRET, T0, signed, topic
    from tests.cloud_bridge.test_integrity import rep as signed_rep

    keys = DeviceKeys(":memory:")
    keys.apply(EnrollmentMessage(GW, SIGNED_DEV, ENROLLED, SECRET, "0.1.0", T0))
    store = ServerLikeStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1, device_keys=keys)
    assert len(bridge._workers) == 2
    acks = []
    bridge.client.ack = lambda mid, qos: acks.append(mid)
    for worker in bridge._workers:
        worker.start()

    def deliver(mid, payload):
        bridge._pending += 1
        bridge.inbox.put(Delivery(mid, 1, topic(), payload))

    deliver(1, signed([1, 2, 3]))
    assert store.writing.wait(5)  # batch 1 is with the store, not stored
    deliver(2, signed([1, 2, 3]))
    deliver(3, signed([], records=[signed_rep(3, rom=9000), signed_rep(4)]))
    deliver(4, signed([4, 5]))
    deadline = time.monotonic() + 5
    while bridge.inbox.depth()[0] and time.monotonic() < deadline:
        time.sleep(0.01)  # batch 2 taken and validated while batch 1 is still being written
    time.sleep(0.1)
    rejected = bridge.stats.snapshot()["rejected"]
    store.go.set()
    stop_when_idle(bridge)
    assert rejected == {"replayed": 1, "seq_conflict": 1}
    assert acks == [1, 2, 3, 4]
    assert [r.seq for r in store.query([SIGNED_DEV], 0, 2**62)] == [1, 2, 3, 4, 5]
    keys.close()


def test_with_a_server_store_what_was_validated_during_a_write_goes_into_the_next_one(
        tmp_path):
    """Messages validated one by one while the store writes make one write after it, not a
    queue of small writes; they are acknowledged in the order they came."""
    store = ServerLikeStore(tmp_path / "s.db")
    writes = []
    original = store.write

    def write(records):
        writes.append(sorted({r.seq // 10 for r in records}))
        original(records)

    store.write = write
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    bridge.client.ack = lambda mid, qos: acks.append(mid)
    for worker in bridge._workers:
        worker.start()
    bridge._pending += 1
    bridge.inbox.put(Delivery(1, 1, TOPIC, body([10, 11])))
    assert store.writing.wait(5)
    for mid in (2, 3, 4):  # each taken and validated on its own while write 1 waits
        bridge._pending += 1
        bridge.inbox.put(Delivery(mid, 1, TOPIC, body([mid * 10, mid * 10 + 1])))
        deadline = time.monotonic() + 5
        while bridge.inbox.depth()[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
    store.go.set()
    stop_when_idle(bridge)
    assert writes == [[1], [2, 3, 4]]
    assert acks == [1, 2, 3, 4]
    assert len(store.query([DEV], 0, 2**62)) == 8


# -- device states ------------------------------------------------------------------------

STATE_T0 = 1_790_000_000_000


def state_delivery(mid: int, reported_ms: int, *, battery: int | None = 50,
                   device: str = DEV, **changes: object) -> Delivery:
    import json
    body = {"schema": "rtm.device_state.v1", "gateway": "home-1", "device": device,
            "reported_ms": reported_ms, "last_sync_ms": reported_ms,
            "last_attempt_ms": reported_ms, "battery_pct": battery, "log_used_pct": 0,
            "refused": 0, "consecutive_failures": 0, "firmware": "0.1.0", **changes}
    return Delivery(mid, 1, f"rtm/v1/home-1/{device}/state", json.dumps(body).encode())


class StateStore(SQLiteStore):
    """Device state writes fail as scripted (an exception, or None for a success)."""

    def __init__(self, path, failures=()):
        super().__init__(path)
        self.failures = list(failures)
        self.state_writes: list[list] = []

    def write_device_states(self, states):
        self.state_writes.append(list(states))
        if self.failures:
            fail = self.failures.pop(0)
            if fail is not None:
                raise fail
        super().write_device_states(states)


def test_device_states_are_stored_latest_per_device_and_acked_with_the_records(tmp_path):
    store = StateStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    other = "0a0b0c0d0e0f"
    run_worker(bridge, [state_delivery(1, STATE_T0 + 5, battery=40),
                        Delivery(2, 1, TOPIC, body([1, 2])),
                        state_delivery(3, STATE_T0 + 1, battery=99),  # older, came later
                        state_delivery(4, STATE_T0 + 2, device=other)], acks)
    assert acks == [1, 2, 3, 4]
    assert [len(w) for w in store.state_writes] == [2]  # one call, one state per device
    states = store.device_states(None)
    assert states[DEV].battery_pct == 40 and states[DEV].reported_ms == STATE_T0 + 5
    assert states[other].gateway_id == "home-1"
    assert len(store.query([DEV], 0, 2**62)) == 2
    stats = bridge.stats.snapshot()
    assert stats["device_states_stored"] == 3 and stats["device_states_rejected"] == {}
    assert stats["rejected"] == {}


def test_a_bad_device_state_is_counted_dead_lettered_and_acknowledged(tmp_path):
    store = StateStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [state_delivery(1, STATE_T0, battery=140),
                        state_delivery(2, STATE_T0, device="0a0b0c0d0e0f",
                                       gateway="home-9"),
                        state_delivery(3, STATE_T0)], acks)
    assert acks == [1, 2, 3]
    assert list(store.device_states(None)) == [DEV]
    assert bridge.stats.snapshot()["device_states_rejected"] == {"bad_field": 1,
                                                                 "topic_mismatch": 1}
    letters = bridge.dead_letters.latest()
    assert sorted(d.reason for d in letters) == ["bad_field", "topic_mismatch"]
    assert any("battery_pct" in d.detail for d in letters)


def test_device_states_wait_for_the_store_and_are_acked_only_once_stored(tmp_path):
    store = StateStore(tmp_path / "s.db",
                       [StoreUnavailable("down"), StoreUnavailable("down"), None])
    bridge = Bridge(store, "127.0.0.1", 1, retry_max_s=0.01)
    acks = []
    run_worker(bridge, [state_delivery(5, STATE_T0)], acks)
    assert acks == [5] and len(store.state_writes) == 3
    assert store.device_states([DEV])[DEV].reported_ms == STATE_T0
    assert bridge.stats.snapshot()["store_retries"] == 2


def test_a_device_state_the_bridge_could_not_store_before_stopping_stays_unacked(tmp_path):
    store = StateStore(tmp_path / "s.db", [StoreUnavailable("down")] * 1000)
    bridge = Bridge(store, "127.0.0.1", 1, retry_max_s=0.01)
    bridge._stop.set()  # stopping: no retry
    d = state_delivery(5, STATE_T0)
    assert bridge.handle_batch([(d.topic, d.payload)]) == [False]
    assert store.device_states(None) == {}


def test_an_unexpected_error_storing_states_keeps_them_unacked_and_the_records_stored(tmp_path):
    store = StateStore(tmp_path / "s.db", [RuntimeError("bug")])
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [Delivery(1, 1, TOPIC, body([1])), state_delivery(2, STATE_T0)], acks)
    assert acks == [1]
    assert bridge.stats.snapshot()["rejected"] == {"internal_error": 1}
    assert len(store.query([DEV], 0, 2**62)) == 1


def test_a_state_the_store_refuses_is_dead_lettered_and_the_others_stored(tmp_path):
    from cloud_bridge.stores.base import StoreRejected as Refused

    class PickyStore(StateStore):
        def write_device_states(self, states):
            if any(s.battery_pct == 13 for s in states):
                raise Refused("13 is cursed")
            super().write_device_states(states)

    store = PickyStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1)
    acks = []
    run_worker(bridge, [state_delivery(1, STATE_T0, battery=13),
                        state_delivery(2, STATE_T0, device="0a0b0c0d0e0f")], acks)
    assert acks == [1, 2]
    assert list(store.device_states(None)) == ["0a0b0c0d0e0f"]
    assert bridge.stats.snapshot()["device_states_rejected"] == {"store_rejected": 1}
    assert [d.reason for d in bridge.dead_letters.latest()] == ["store_rejected"]


def test_a_state_from_another_gateway_than_the_wearables_is_rejected(tmp_path):
    from cloud_bridge.device_keys import ENROLLED, DeviceKeys, EnrollmentMessage

    keys = DeviceKeys(":memory:")
    keys.apply(EnrollmentMessage("home-2", DEV, ENROLLED, bytes(range(1, 33)), "0.1.0",
                                 STATE_T0))
    store = StateStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1, device_keys=keys)
    acks = []
    other = "0a0b0c0d0e0f"  # no key: enrolled in a gateway's configuration only
    run_worker(bridge, [state_delivery(1, STATE_T0), state_delivery(2, STATE_T0, device=other)],
               acks)
    assert acks == [1, 2]
    assert list(store.device_states(None)) == [other]
    assert bridge.stats.snapshot()["device_states_rejected"] == {"other_gateway": 1}
    assert "enrolled at gateway home-2" in bridge.dead_letters.latest()[0].detail
    keys.close()
