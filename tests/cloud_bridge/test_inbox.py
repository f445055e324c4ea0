"""The bridge's inbox: bounded by count and bytes, batches what waits, wakes on close."""

import threading
import time

import pytest

from cloud_bridge.inbox import Delivery, Inbox


def d(mid, size=10):
    return Delivery(mid, 1, "t", bytes(size))


def put_in_thread(inbox, delivery):
    t = threading.Thread(target=inbox.put, args=(delivery,), daemon=True)
    t.start()
    return t


def test_take_hands_over_everything_waiting_up_to_the_limit_in_order():
    inbox = Inbox(10, 1000)
    for mid in range(5):
        inbox.put(d(mid))
    assert [x.mid for x in inbox.take(3)] == [0, 1, 2]
    assert [x.mid for x in inbox.take(3)] == [3, 4]
    assert inbox.depth() == (0, 0)


def test_put_waits_while_the_inbox_holds_its_count():
    inbox = Inbox(2, 1000)
    inbox.put(d(1))
    inbox.put(d(2))
    t = put_in_thread(inbox, d(3))
    time.sleep(0.1)
    assert t.is_alive() and inbox.depth() == (2, 20)
    assert [x.mid for x in inbox.take(1)] == [1]
    t.join(2)
    assert not t.is_alive() and inbox.depth() == (2, 20)
    assert inbox.high_water_messages == 2


def test_put_waits_while_the_bytes_would_exceed_the_budget():
    inbox = Inbox(100, 100)
    inbox.put(d(1, 60))
    t = put_in_thread(inbox, d(2, 60))
    time.sleep(0.1)
    assert t.is_alive()
    inbox.take(10)
    t.join(2)
    assert not t.is_alive() and inbox.high_water_bytes == 60


def test_a_message_larger_than_the_budget_is_taken_alone_not_refused():
    inbox = Inbox(100, 100)
    inbox.put(d(1, 500))
    assert inbox.depth() == (1, 500)
    t = put_in_thread(inbox, d(2, 1))
    time.sleep(0.1)
    assert t.is_alive()
    assert [x.mid for x in inbox.take(10)] == [1]
    t.join(2)
    assert [x.mid for x in inbox.take(10)] == [2]


def test_close_lets_the_writer_finish_what_is_left_then_gives_nothing():
    inbox = Inbox(10, 1000)
    inbox.put(d(1))
    inbox.close()
    assert [x.mid for x in inbox.take(10)] == [1]
    assert inbox.take(10) == []


def test_take_waits_for_a_message():
    inbox = Inbox(10, 1000)
    got = []
    t = threading.Thread(target=lambda: got.extend(inbox.take(10)), daemon=True)
    t.start()
    time.sleep(0.05)
    assert not got
    inbox.put(d(7))
    t.join(2)
    assert [x.mid for x in got] == [7]


def test_an_inbox_without_room_is_refused():
    with pytest.raises(ValueError):
        Inbox(0, 10)
