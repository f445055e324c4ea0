"""`rtm-gateway status`: what this gateway knows, read from its database and from the
heartbeat the running service leaves (the broker link lives only in that process)."""

from __future__ import annotations

import json
from typing import Any

from gateway.clock import wall_clock_ms
from gateway.config import GatewayConfig
from gateway.devices import DeviceRegistry
from gateway.outbox import Outbox
from gateway.service import HEARTBEAT_EVERY_S, heartbeat_path

_STALE_AFTER_S = 3 * HEARTBEAT_EVERY_S


def running_service(cfg: GatewayConfig, now_ms: int | None = None) -> dict[str, Any] | None:
    """The running service's last heartbeat, or None if it is not running (stopped, or
    silent for longer than three heartbeats: killed, or hung)."""
    now_ms = wall_clock_ms() if now_ms is None else now_ms
    try:
        beat = json.loads(heartbeat_path(cfg).read_text())
    except (OSError, ValueError):
        return None
    fresh = now_ms - int(beat.get("written_ms", 0)) <= _STALE_AFTER_S * 1000
    return beat if beat.get("running") and fresh else None


def gather_status(cfg: GatewayConfig, outbox: Outbox, devices: DeviceRegistry,
                  now_ms: int | None = None) -> dict[str, Any]:
    now_ms = wall_clock_ms() if now_ms is None else now_ms
    enrolled = set(cfg.enrolled) | devices.enrolled()
    wearables = []
    for s in devices.statuses(enrolled):
        pending = devices.pending_program(s.device_id)
        wearables.append({
            "device": s.device_id,
            "last_sync_ms": s.last_sync_ms,
            "unsynced_estimate": s.unsynced,
            "battery_pct": s.battery_pct,
            "firmware": s.firmware,
            "refused": s.refused,
            "last_error": s.last_error,
            "consecutive_failures": s.consecutive_failures,
            "program_waiting": pending.version if pending is not None else None,
        })
    o = outbox.stats()
    return {
        "gateway": cfg.gateway_id,
        "now_ms": now_ms,
        "service": running_service(cfg, now_ms),
        "wearables": wearables,
        "outbox": {"depth": o.depth, "bytes": o.bytes, "max_bytes": o.max_bytes,
                   "oldest_created_ms": o.oldest_created_ms,
                   "refused_batches": o.refused_batches,
                   "refused_messages": o.refused_messages},
    }


def _ago(now_ms: int, then_ms: int | None) -> str:
    if then_ms is None:
        return "never"
    s = max(0, now_ms - then_ms) // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit} ago"
    return f"{s} s ago"


def render_status(st: dict[str, Any]) -> str:
    now = st["now_ms"]
    lines = [f"gateway {st['gateway']}"]
    service = st["service"]
    if service is None:
        lines.append("  service: not running (no fresh heartbeat)")
    else:
        b = service["broker"]
        link = ("connected" if b["connected"] else "disconnected") + \
            f" since {_ago(now, b['since_ms'])}"
        if b["last_error"]:
            link += f" (last error: {b['last_error']})"
        lines.append(f"  service: running (pid {service['pid']}); broker {link}; "
                     f"{service['syncs']} syncs, {service['sync_failures']} failed; "
                     f"adapter resets {service['adapter_resets']}")
        if b.get("refused"):  # .get: a heartbeat from before these counters
            lines.append(f"  ALARM broker refused {b['refused']} publishes since the start "
                         f"(last: {b.get('last_refusal')}); {b.get('held', 0)} messages kept "
                         f"in the outbox and retried: check the broker's ACL and limits")
        elif b.get("held"):
            lines.append(f"  broker: {b['held']} messages had no subscriber (bridges "
                         f"restarting?); kept in the outbox and sent again")
    o = st["outbox"]
    bound = f" of {o['max_bytes'] / 2**20:.0f} MB" if o["max_bytes"] else ""
    oldest = (f", oldest {_ago(now, o['oldest_created_ms'])}"
              if o["oldest_created_ms"] is not None else "")
    lines.append(f"  outbox: {o['depth']} messages, {o['bytes'] / 2**20:.1f} MB{bound}{oldest}")
    if o["refused_batches"] or o["refused_messages"]:
        lines.append(f"  ALARM outbox was full: {o['refused_batches']} batches and "
                     f"{o['refused_messages']} messages refused (records waited on wearables)")
    if not st["wearables"]:
        lines.append("  no wearables enrolled (rtm-gateway enroll ID)")
    for w in st["wearables"]:
        parts = [f"last sync {_ago(now, w['last_sync_ms'])}"]
        if w["unsynced_estimate"] is not None:
            parts.append(f"~{w['unsynced_estimate']} unsynced")
        if w["battery_pct"] is not None:
            parts.append(f"battery {w['battery_pct']}%")
        parts.append(f"firmware {w['firmware'] or '?'}")
        if w["program_waiting"] is not None:
            parts.append(f"program v{w['program_waiting']} waiting")
        if w["consecutive_failures"]:
            parts.append(f"{w['consecutive_failures']} failures in a row "
                         f"(last: {w['last_error']})")
        lines.append(f"  {w['device']}: " + ", ".join(parts))
    return "\n".join(lines)
