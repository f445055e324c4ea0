"""`rtm-gateway status`'s text (gateway/status.py) for what the broker did not take."""

from __future__ import annotations

from typing import Any

from gateway.status import render_status

NOW = 1_795_000_000_000


def status(**broker: Any) -> dict[str, Any]:
    link = {"connected": True, "since_ms": NOW - 60_000, "last_error": None, **broker}
    return {"now_ms": NOW, "gateway": "home-1", "wearables": [],
            "service": {"pid": 1, "broker": link, "syncs": 0, "sync_failures": 0,
                        "adapter_resets": 0},
            "outbox": {"depth": 3, "bytes": 300, "max_bytes": None,
                       "oldest_created_ms": NOW - 1_000, "refused_batches": 0,
                       "refused_messages": 0}}


def test_refusals_by_the_broker_are_an_alarm() -> None:
    text = render_status(status(refused=4, held=1,
                                last_refusal="rtm/v1/home-1/x/state: Not authorized (0x87)"))
    assert "ALARM broker refused 4 publishes" in text and "Not authorized" in text
    assert "1 messages kept" in text


def test_messages_without_subscriber_are_shown_kept() -> None:
    text = render_status(status(no_subscriber=9, refused=0, held=3))
    assert "3 messages had no subscriber" in text and "ALARM" not in text


def test_a_heartbeat_without_the_counters_still_renders() -> None:
    assert "ALARM" not in render_status(status())
