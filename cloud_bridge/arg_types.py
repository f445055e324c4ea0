"""Command-line argument types shared by rtm-bridge and rtm-clinic.

A parser that raises ValueError (or a subclass) with a reason becomes an argparse type: a
bad value is then a usage error (exit 2) that names it, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from cloud_bridge.broker_link import host_port
from cloud_bridge.daily import zone_named

T = TypeVar("T")


def argument_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` with its ValueError turned into argparse's usage error."""
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return convert


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {text!r}") from None


parse_date: Callable[[str], date] = argument_type(_iso_date)
parse_zone: Callable[[str], ZoneInfo] = argument_type(zone_named)
parse_broker: Callable[[str], tuple[str, int]] = argument_type(host_port)
