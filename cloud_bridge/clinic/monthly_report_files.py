"""Where `rtm-clinic report --out-dir DIR` writes: one file per patient-month, named so
that any patient id gives a safe, distinct file name, readable by its owner only.

    rtm-report-2026-02-P-0001.csv      one patient's month
    rtm-report-2026-02.html            with --all --format html: every patient in one
                                       printable page (a page break between patients)
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cloud_bridge.clinic.billing import Month

PREFIX = "rtm-report"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _safe(patient_id: str) -> str:
    """The id as a file name part: kept as is when it is only letters, digits and . _ -;
    otherwise with the others replaced by _ and a hash of the id added, so that ids that
    differ only there ("P/1", "P 1") still get different files. Never a path separator
    (dots are harmless after the prefix)."""
    safe = _UNSAFE.sub("_", patient_id)
    if safe == patient_id:
        return safe
    return f"{safe}-{hashlib.sha256(patient_id.encode()).hexdigest()[:8]}"


def patient_file(patient_id: str, month: Month, ext: str) -> str:
    return f"{PREFIX}-{month}-{_safe(patient_id)}.{ext}"


def combined_file(month: Month, ext: str) -> str:
    """Cannot be a patient's file: those have one more part after the month."""
    return f"{PREFIX}-{month}.{ext}"


def write_private(path: str | Path, text: str, *, bom: bool = False) -> None:
    """Write `text` (UTF-8; with a byte order mark when `bom`, so that a spreadsheet reads
    it as UTF-8) to `path`, created owner-only: a report ties data to a patient id."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        f.write(text)
