"""A wearable's latest state (DeviceState) in words, as the patient report and the patient
page show it: when it last synced and through which gateway, failed attempts since,
battery, how full its record log is, records it had to refuse, firmware."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cloud_bridge.device_state import DeviceState


def _time(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%a %Y-%m-%d %H:%M")


def state_text(state: DeviceState | None, zone: ZoneInfo) -> str:
    """'last sync Fri 2026-03-20 03:10 via home-1, battery 80%, ...' (times in `zone`)."""
    if state is None:
        return "no state reported yet"
    parts = []
    if state.last_sync_ms is None:
        parts.append("never synced")
    else:
        parts.append(f"last sync {_time(state.last_sync_ms, zone)} via {state.gateway_id}")
    if state.consecutive_failures:
        n = state.consecutive_failures
        since = " since" if state.last_sync_ms is not None else ""
        parts.append(f"{n} failed attempt{'' if n == 1 else 's'}{since}")
    if state.battery_pct is not None:
        parts.append(f"battery {state.battery_pct}%")
    if state.log_used_pct is not None:
        parts.append(f"storage {state.log_used_pct}% full")
    if state.refused:
        parts.append(f"{state.refused} records refused")
    if state.firmware:
        parts.append(f"firmware {state.firmware}")
    return ", ".join(parts)


def device_line(device: str, state: DeviceState | None, zone: ZoneInfo) -> str:
    """'wearable <id>: ' and its state_text."""
    return f"wearable {device}: {state_text(state, zone)}"
