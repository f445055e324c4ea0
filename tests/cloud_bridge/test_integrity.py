"""The bridge verifies each records message against the wearable's key: forged, altered,
moved, stripped and conflicting batches are rejected whole and counted by reason; replays
are rejected and counted; devices without a key are accepted and counted, or refused with
require_signed."""

import base64
import json

import pytest

from cloud_bridge.device_keys import ENROLLED, UNENROLLED, DeviceKeys, EnrollmentMessage
from cloud_bridge.payload import parse_message, verify
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from firmware.core import auth, codec
from gateway import payload as gw_payload

# Security: a gateway cannot forge or change a record undetected.
pytestmark = pytest.mark.security

GW = "home-1"
DEV = "a1b2c3d4e5f6"
OTHER = "0a0b0c0d0e0f"
SECRET = bytes(range(1, 33))
OTHER_SECRET = bytes(range(3, 35))
LOG_ID = 0x1234
T0 = 1_790_000_000_000


def topic(device=DEV):
    return f"rtm/v1/{GW}/{device}/records"


def rep(seq, rom=4500):
    return bytes(codec.encode_rep(seq, codec.FLAG_TIME_VALID, 1, 1, T0 + seq, 2, seq, 900, rom,
                                  80))


def signed(seqs, device=DEV, secret=SECRET, log_id=LOG_ID, records=None):
    raws = records if records is not None else [rep(s) for s in seqs]
    mac = auth.batch_tag(secret, bytes.fromhex(device), log_id, raws)
    return gw_payload.build(GW, device, raws, 2, 100_000, T0 + 100_000, log_id=log_id, mac=mac)


def edit(message, device=None, **fields):
    body = json.loads(message)
    body.update(fields)
    if device is not None:
        body["device"] = device
    return json.dumps(body).encode()


@pytest.fixture
def bridge(tmp_path):
    keys = DeviceKeys(":memory:")
    for device, secret in ((DEV, SECRET), (OTHER, OTHER_SECRET)):
        keys.apply(EnrollmentMessage(GW, device, ENROLLED, secret, "0.1.0", T0))
    store = SQLiteStore(tmp_path / "s.db")
    b = Bridge(store, "127.0.0.1", 1, device_keys=keys)
    yield b
    store.close()
    keys.close()


def stored(bridge, device=DEV):
    return {(r.seq, r.values["rom_cdeg"])
            for r in bridge.store.query([device], 0, 2**62)}


def snapshot(bridge):
    s = bridge.stats.snapshot()
    return s["rejected"], s["integrity"]


def test_a_signed_batch_is_verified_and_stored(bridge):
    assert bridge.handle(topic(), signed([1, 2, 3]))
    assert stored(bridge) == {(1, 4500), (2, 4500), (3, 4500)}
    assert snapshot(bridge) == ({}, {"verified": 1})


def test_verify_covers_every_byte_the_device_and_the_log():
    msg = parse_message(topic(), signed([1, 2]))
    assert verify(msg, DEV, SECRET)
    assert not verify(msg, DEV, OTHER_SECRET) and not verify(msg, OTHER, SECRET)


def forged_mac(message):
    return edit(message, mac=base64.b64encode(bytes(32)).decode())


def altered_byte(message):
    body = json.loads(message)
    # Any field, CRC re-sealed: the gateway can make a valid record, not a valid tag.
    body["records"][1] = base64.b64encode(rep(2, rom=9000)).decode()
    return json.dumps(body).encode()


def altered_seq(message):
    body = json.loads(message)
    body["records"][1] = base64.b64encode(rep(7)).decode()
    return json.dumps(body).encode()


def dropped_record(message):
    body = json.loads(message)
    del body["records"][1]
    return json.dumps(body).encode()


@pytest.mark.parametrize("tamper", [forged_mac, altered_byte, altered_seq, dropped_record,
                                    lambda m: edit(m, log_id=LOG_ID + 1)],
                         ids=["forged_mac", "altered_byte", "altered_seq", "dropped_record",
                              "altered_log_id"])
def test_tampering_is_rejected_whole_as_bad_mac(bridge, tamper):
    assert bridge.handle(topic(), tamper(signed([1, 2, 3])))
    assert stored(bridge) == set()
    assert snapshot(bridge) == ({"bad_mac": 1}, {})


def test_a_batch_moved_to_another_devices_topic_is_cross_device(bridge):
    moved = edit(signed([1, 2]), device=OTHER)
    assert bridge.handle(topic(OTHER), moved)
    assert stored(bridge, OTHER) == set()
    assert snapshot(bridge) == ({"cross_device": 1}, {})


def test_a_moved_batch_signed_by_an_unknown_key_is_bad_mac(bridge):
    moved = edit(signed([1, 2], secret=bytes(range(5, 37))), device=OTHER)
    assert bridge.handle(topic(OTHER), moved)
    assert snapshot(bridge) == ({"bad_mac": 1}, {})


def test_no_mac_from_a_device_with_a_key_is_unsigned(bridge):
    plain = gw_payload.build(GW, DEV, [rep(1)], 2, 100_000, T0 + 100_000, log_id=LOG_ID)
    assert bridge.handle(topic(), plain)
    assert stored(bridge) == set()
    assert snapshot(bridge) == ({"unsigned": 1}, {})


def test_a_replay_is_rejected_and_counted_and_changes_nothing(bridge):
    assert bridge.handle(topic(), signed([1, 2, 3]))
    assert bridge.handle(topic(), signed([1, 2, 3]))
    assert bridge.handle(topic(), signed([2, 3]))  # other batch boundaries, same records
    assert bridge.handle(topic(), signed([3, 4]))  # partly new: verified
    assert stored(bridge) == {(s, 4500) for s in (1, 2, 3, 4)}
    assert snapshot(bridge) == ({"replayed": 2}, {"verified": 2})


def test_a_verified_seq_with_other_bytes_is_a_conflict(bridge):
    # Only a leaked key can do this; the first record stays.
    assert bridge.handle(topic(), signed([1, 2]))
    assert bridge.handle(topic(), signed([], records=[rep(2, rom=9000), rep(3)]))
    assert stored(bridge) == {(1, 4500), (2, 4500)}
    assert snapshot(bridge) == ({"seq_conflict": 1}, {"verified": 1})


def test_replays_and_conflicts_within_one_batch_are_found_before_anything_is_stored(bridge):
    # The second to fourth messages arrive while the first is accepted, not yet stored.
    done = bridge.handle_batch([
        (topic(), signed([1, 2, 3])),
        (topic(), signed([1, 2, 3])),  # a replay of records still pending
        (topic(), signed([], records=[rep(3, rom=9000), rep(4)])),  # a conflict with them
        (topic(), signed([3, 4])),  # partly new: verified
        (topic(OTHER), signed([1, 2, 3], device=OTHER, secret=OTHER_SECRET)),  # another device
    ])
    assert done == [True] * 5
    assert stored(bridge) == {(s, 4500) for s in (1, 2, 3, 4)}
    assert stored(bridge, OTHER) == {(s, 4500) for s in (1, 2, 3)}
    assert snapshot(bridge) == ({"replayed": 1, "seq_conflict": 1}, {"verified": 3})
    assert bridge._unstored == {}  # nothing left pending once stored
    assert bridge.handle(topic(), signed([4]))  # now known from the key file
    assert snapshot(bridge)[0] == {"replayed": 2, "seq_conflict": 1}


def test_an_unenrolled_device_keeps_its_key_for_signed_batches(bridge):
    bridge.device_keys.apply(EnrollmentMessage(GW, DEV, UNENROLLED, None, None, T0 + 1))
    assert bridge.handle(topic(), altered_byte(signed([1, 2])))
    assert bridge.handle(topic(), signed([1, 2]))
    assert snapshot(bridge) == ({"bad_mac": 1}, {"verified": 1})


def test_a_device_without_a_key_is_accepted_and_counted(bridge):
    legacy = "ffeeddccbbaa"
    plain = gw_payload.build(GW, legacy, [rep(1)], 2, 100_000, T0 + 100_000)
    assert bridge.handle(topic(legacy), plain)
    assert stored(bridge, legacy) == {(1, 4500)}
    assert snapshot(bridge) == ({}, {"unsigned_unenrolled": 1})
    bridge.require_signed = True
    assert bridge.handle(topic(legacy), gw_payload.build(GW, legacy, [rep(2)], 2, 100_000,
                                                         T0 + 100_000))
    assert stored(bridge, legacy) == {(1, 4500)}
    assert snapshot(bridge) == ({"unsigned_unenrolled": 1}, {"unsigned_unenrolled": 1})


@pytest.mark.parametrize("fields", [{"mac": "!!"}, {"mac": base64.b64encode(b"x").decode()},
                                    {"log_id": -1}, {"log_id": None}])
def test_a_malformed_mac_or_log_id_is_bad_field(bridge, fields):
    assert bridge.handle(topic(), edit(signed([1]), **fields))
    assert snapshot(bridge) == ({"bad_field": 1}, {})


def test_good_messages_still_pass_after_rejections(bridge):
    for tamper in (forged_mac, altered_byte):
        bridge.handle(topic(), tamper(signed([1, 2])))
    assert bridge.handle(topic(), signed([1, 2]))
    assert stored(bridge) == {(1, 4500), (2, 4500)}
