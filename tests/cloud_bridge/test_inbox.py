"""The bridge's inboxes: bounded by count and size, batches what waits, wakes on close; and
the validated batches for the storing thread, sized by their messages, all taken at once."""

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
    assert inbox.high_water_items == 2


def test_put_waits_while_the_bytes_would_exceed_the_budget():
    inbox = Inbox(100, 100)
    inbox.put(d(1, 60))
    t = put_in_thread(inbox, d(2, 60))
    time.sleep(0.1)
    assert t.is_alive()
    inbox.take(10)
    t.join(2)
    assert not t.is_alive() and inbox.high_water_size == 60


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


# -- validated batches to the storing thread (size: messages) -----------------------------

class Batch(list):
    """A batch of messages (its length: how many)."""


def test_batches_sized_by_messages_are_all_handed_over_in_order():
    batches: Inbox[Batch] = Inbox(1000, 10, size=len)
    batches.put(Batch([1, 2]))
    batches.put(Batch([3]))
    assert batches.take() == [[1, 2], [3]]


def test_a_batch_waits_while_enough_messages_wait_then_goes_on_once_taken():
    batches: Inbox[Batch] = Inbox(1000, 3, size=len)
    batches.put(Batch([1, 2, 3]))
    t = threading.Thread(target=batches.put, args=(Batch([4]),), daemon=True)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()
    assert batches.take() == [[1, 2, 3]]
    t.join(2)
    assert not t.is_alive()
    assert batches.take() == [[4]]


def test_a_batch_larger_than_the_limit_is_taken_when_nothing_waits():
    batches: Inbox[Batch] = Inbox(1000, 2, size=len)
    batches.put(Batch([1, 2, 3, 4]))
    assert batches.take() == [[1, 2, 3, 4]]


def test_close_hands_over_the_batches_left_then_nothing():
    batches: Inbox[Batch] = Inbox(1000, 5, size=len)
    got: list[list[Batch]] = []
    t = threading.Thread(target=lambda: got.extend([batches.take(), batches.take()]),
                         daemon=True)
    batches.put(Batch([1]))
    batches.close()
    t.start()
    t.join(2)
    assert got == [[[1]], []]


def test_close_wakes_a_waiting_taker():
    batches: Inbox[Batch] = Inbox(1000, 5, size=len)
    got: list[list[Batch]] = []
    t = threading.Thread(target=lambda: got.append(batches.take()), daemon=True)
    t.start()
    time.sleep(0.1)
    batches.close()
    t.join(2)
    assert got == [[]]
