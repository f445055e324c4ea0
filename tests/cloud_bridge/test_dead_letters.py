"""What the bridge can never store is kept with its reason (dead letters), bounded; replays
are not; good records of a message with bad ones are still stored."""

import json

import pytest

from cloud_bridge.dead_letters import DeadLetters
from cloud_bridge.device_keys import ENROLLED, DeviceKeys, EnrollmentMessage
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from tests.cloud_bridge.test_integrity import DEV, GW, SECRET, T0, signed, topic


@pytest.fixture
def bridge(tmp_path):
    keys = DeviceKeys(":memory:")
    keys.apply(EnrollmentMessage(GW, DEV, ENROLLED, SECRET, "0.1.0", T0))
    store = SQLiteStore(tmp_path / "s.db")
    b = Bridge(store, "127.0.0.1", 1, device_keys=keys,
               dead_letters=DeadLetters(tmp_path / "dead.db"))
    yield b
    store.close()
    keys.close()
    b.dead_letters.close()


def reasons(bridge) -> list[str]:
    return [d.reason for d in reversed(bridge.dead_letters.latest())]


def test_rejected_messages_are_kept_with_their_reason(bridge):
    forged = json.loads(signed([1, 2]))
    forged["mac"] = "A" * 43 + "="
    assert bridge.handle(topic(), b"{not json")
    assert bridge.handle(topic(), json.dumps(forged).encode())
    assert bridge.handle(f"rtm/v1/{GW}/{DEV}/enrollment", b"[]")
    assert reasons(bridge) == ["not_json", "bad_mac", "not_object"]
    kept = bridge.dead_letters.latest()[-1]
    assert kept.topic == topic() and kept.payload == b"{not json"
    assert "not JSON" in kept.detail


def test_a_bad_record_is_kept_and_its_good_neighbours_stored(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    bridge = Bridge(store, "127.0.0.1", 1, device_keys=DeviceKeys(":memory:"),
                    dead_letters=DeadLetters(tmp_path / "dead.db"))
    body = json.loads(signed([1, 2]))
    body.pop("mac")
    body["records"].append("AAAA")  # 3 bytes: not a record
    assert bridge.handle(topic(), json.dumps(body).encode())
    assert {r.seq for r in store.query([DEV], 0, 2**62)} == {1, 2}
    (kept,) = bridge.dead_letters.latest()
    assert kept.reason == "bad_record" and "records[2]: record must be 32 bytes" in kept.detail
    store.close()


def test_replays_are_not_dead_letters(bridge):
    assert bridge.handle(topic(), signed([1, 2]))
    assert bridge.handle(topic(), signed([1, 2]))
    assert bridge.stats.snapshot()["rejected"] == {"replayed": 1}
    assert bridge.dead_letters.count() == 0


def test_dead_letters_are_bounded_and_evictions_counted(tmp_path):
    dead = DeadLetters(tmp_path / "dead.db", max_rows=3)
    for i in range(5):
        dead.add(topic(), bytes([i]), "bad_mac", f"#{i}", received_ms=i)
    assert dead.count() == 3 and dead.evicted() == 2
    assert [d.payload for d in dead.latest()] == [b"\x04", b"\x03", b"\x02"]
    dead.close()
    again = DeadLetters(tmp_path / "dead.db", max_rows=3)
    assert again.count() == 3 and again.evicted() == 2  # kept on disk
    again.close()
