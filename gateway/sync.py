"""Syncing one wearable: set its clock, send the program waiting for it, fetch what the
gateway has not committed yet, commit each batch to the outbox, and only then acknowledge it
to the wearable.

A crash between commit and acknowledgement is harmless: the outbox remembers the committed
sequence number, so the next sync acknowledges first and never fetches a record twice. A
full outbox stops the fetching without acknowledging anything more: the records wait on the
wearable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from firmware.core import protocol
from gateway import payload
from gateway.clock import check_plausible
from gateway.devices import DeviceRegistry
from gateway.downlink import APPLIED, REJECTED, ack_topic, build_ack
from gateway.outbox import Outbox, OutboxFull
from gateway.wearable_session import SessionError, WearableSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    device_id: str
    fetched: int
    acked_seq: int
    last_seq: int
    battery_pct: int
    refused: int
    outbox_full: bool = False  # fetching stopped: the records wait on the wearable
    program_version: int | None = None  # a program offered in this sync, if any
    program_status: str | None = None  # "applied" or "rejected"
    first_seq: int | None = None  # the first readable seq (INFO): tells the log's capacity


async def sync_wearable(session: WearableSession, outbox: Outbox, gateway_id: str,
                        expected_device_id: str, now_ms: Callable[[], int],
                        batch_records: int = 256, *,
                        devices: DeviceRegistry | None = None,
                        progress: Callable[[int, int], None] | None = None) -> SyncResult:
    """One sync. With `devices`, the waiting program is sent after SET_TIME and its ack
    enqueued, and the sync's figures are recorded as the device's status (a failure is
    recorded by the caller, which also sees failures before and around this: connecting,
    the deadline). `progress(fetched, to_fetch)` is called after every committed batch."""
    result = await _sync(session, outbox, gateway_id, expected_device_id, now_ms,
                         batch_records, devices, progress)
    if devices is not None:
        devices.record_sync(result.device_id, now_ms(), battery_pct=result.battery_pct,
                            firmware=await session.firmware_revision(),
                            last_seq=result.last_seq, acked_seq=result.acked_seq,
                            refused=result.refused, first_seq=result.first_seq,
                            error="outbox full: records wait on the wearable"
                            if result.outbox_full else None)
    return result


async def _sync(session: WearableSession, outbox: Outbox, gateway_id: str,
                expected_device_id: str, now_ms: Callable[[], int], batch_records: int,
                devices: DeviceRegistry | None,
                progress: Callable[[int, int], None] | None) -> SyncResult:
    info = await session.info()
    device_id = info["device_id"].hex()
    if device_id != expected_device_id:
        raise ValueError(f"wearable reports id {device_id}, expected {expected_device_id}")
    info_unix_ms = now_ms()
    # Before SET_TIME: a clock the wearable or the bridge would refuse ends the sync with
    # nothing fetched (a message dated after 2100 would be rejected after the wearable had
    # let go of its records).
    check_plausible(info_unix_ms)
    await session.set_time(info_unix_ms)
    program_version = program_status = None
    if devices is not None:
        program_version, program_status = await _send_program(session, outbox, gateway_id,
                                                              device_id, devices, now_ms)
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
    full = False
    next_seq = max(acked, committed) + 1
    to_fetch = max(0, last - next_seq + 1)  # an upper bound: evicted records are skipped
    while next_seq <= last:
        batch = await session.fetch(next_seq, batch_records)
        if not batch.records:
            break
        first_seq = int.from_bytes(batch.records[0][:4], "little")
        last_seq = int.from_bytes(batch.records[-1][:4], "little")
        # One message per FETCH: the wearable's tag covers exactly this batch's records.
        body = payload.build(gateway_id, device_id, batch.records, info["boot"],
                             info["uptime_ms"], info_unix_ms, log_id=info["log_id"],
                             mac=batch.tag)
        try:
            outbox.commit_batch(device_id, info["log_id"], first_seq, last_seq, topic, body,
                                now_ms())
        except OutboxFull as e:
            # Nothing of this batch is committed, so nothing is acknowledged: the wearable
            # keeps the records until the broker has drained the outbox.
            log.warning("wearable %s: outbox full (%s); %d records stay on the wearable",
                        device_id, e, last - last_seq + len(batch.records))
            full = True
            break
        acked = await session.ack(last_seq)
        fetched += len(batch.records)
        next_seq = last_seq + 1
        if progress is not None:
            progress(fetched, max(to_fetch, fetched))
    log.info("wearable %s: fetched %d records, acknowledged up to %d, battery %d%%",
             device_id, fetched, acked, info["battery_pct"])
    return SyncResult(device_id, fetched, acked, last, info["battery_pct"], info["refused"],
                      full, program_version, program_status, info["first_seq"])


async def _send_program(session: WearableSession, outbox: Outbox, gateway_id: str,
                        device_id: str, devices: DeviceRegistry,
                        now_ms: Callable[[], int]) -> tuple[int | None, str | None]:
    """SET_PROGRAM with the program waiting for this wearable, if any; the ack is enqueued
    before the registry forgets the program, so a crash between the two repeats the ack
    (harmless), never loses it. A lost answer raises: the program stays for the next sync."""
    pending = devices.pending_program(device_id)
    if pending is None:
        return None, None
    frame = await session.command(protocol.cmd_set_program(pending.program))
    if len(frame) < 2 or frame[0] != protocol.CMD_SET_PROGRAM | protocol.RESPONSE_BIT:
        raise SessionError(f"unexpected answer {frame[:2].hex()} to SET_PROGRAM")
    code = frame[1]
    if code == protocol.STATUS_OK:
        status, reason = APPLIED, None
    elif code == protocol.STATUS_UNKNOWN_COMMAND:
        status, reason = REJECTED, "the wearable's firmware has no program storage"
    elif code == protocol.STATUS_BAD_ARGUMENT:
        status, reason = REJECTED, "the wearable found the program malformed"
    else:
        status, reason = REJECTED, f"the wearable answered status {code}"
    now = now_ms()
    try:
        outbox.enqueue(ack_topic(gateway_id, device_id),
                       build_ack(device_id, pending.version, status, reason, now), now,
                       device_id=device_id)
    except OutboxFull as e:
        # The wearable has answered but the clinic cannot be told yet: keep the program
        # waiting, so the next sync sends it again (the same program keeps the day's
        # progress) and acknowledges then.
        log.warning("wearable %s: program version %d %s, but its ack cannot be queued (%s)",
                    device_id, pending.version, status, e)
        return pending.version, status
    devices.program_done(device_id, pending.version, status, now)
    log.info("wearable %s: program version %d %s%s", device_id, pending.version, status,
             f" ({reason})" if reason else "")
    return pending.version, status
