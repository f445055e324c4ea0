"""Syncing one wearable: set its clock, fetch what the gateway has not committed yet, commit
each batch to the outbox, and only then acknowledge it to the wearable.

A crash between commit and acknowledgement is harmless: the outbox remembers the committed
sequence number, so the next sync acknowledges first and never fetches a record twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway import payload
from gateway.outbox import Outbox
from gateway.wearable_session import WearableSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    device_id: str
    fetched: int
    acked_seq: int
    last_seq: int
    battery_pct: int
    refused: int


async def sync_wearable(session: WearableSession, outbox: Outbox, gateway_id: str,
                        expected_device_id: str, now_ms: Callable[[], int],
                        batch_records: int = 256) -> SyncResult:
    info = await session.info()
    device_id = info["device_id"].hex()
    if device_id != expected_device_id:
        raise ValueError(f"wearable reports id {device_id}, expected {expected_device_id}")
    info_unix_ms = now_ms()
    await session.set_time(info_unix_ms)
    acked = info["acked_seq"]
    last = info["last_seq"]
    state = outbox.device_state(device_id)
    if state is None or state[0] != info["log_id"] or state[1] > last:
        if state is not None:
            # A recreated log (flash lost, firmware with a new log size): its records are
            # new ones, numbered from a new base; nothing of the old log is acknowledged.
            log.warning("wearable %s: new record log %08x (was %08x, committed up to %d); "
                        "starting from its acknowledged seq %d", device_id, info["log_id"],
                        state[0], state[1], acked)
        outbox.reset_device(device_id, info["log_id"], acked)
        committed = acked
    else:
        committed = state[1]
    if committed > acked:
        acked = await session.ack(committed)  # committed earlier, ack was lost
    topic = payload.records_topic(gateway_id, device_id)
    fetched = 0
    next_seq = max(acked, committed) + 1
    while next_seq <= last:
        batch = await session.fetch(next_seq, batch_records)
        if not batch.records:
            break
        first_seq = int.from_bytes(batch.records[0][:4], "little")
        last_seq = int.from_bytes(batch.records[-1][:4], "little")
        body = payload.build(gateway_id, device_id, batch.records, info["boot"],
                             info["uptime_ms"], info_unix_ms)
        outbox.commit_batch(device_id, info["log_id"], first_seq, last_seq, topic, body,
                            now_ms())
        acked = await session.ack(last_seq)
        fetched += len(batch.records)
        next_seq = last_seq + 1
    log.info("wearable %s: fetched %d records, acknowledged up to %d, battery %d%%",
             device_id, fetched, acked, info["battery_pct"])
    return SyncResult(device_id, fetched, acked, last, info["battery_pct"], info["refused"])
