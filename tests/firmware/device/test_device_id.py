"""The device id: random, made once, kept in a file, never all-zero or all-one."""

from __future__ import annotations

from pathlib import Path

from firmware.device import device_id


def counter_bytes(*chunks: bytes):
    it = iter(chunks)
    return lambda n: next(it)


def test_created_once_then_loaded(tmp_path: Path) -> None:
    path = str(tmp_path / "id.bin")
    first = device_id.load_or_create(path, counter_bytes(b"\x01\x02\x03\x04\x05\x06"))
    assert first == b"\x01\x02\x03\x04\x05\x06"
    again = device_id.load_or_create(path, lambda n: b"\x09" * n)
    assert again == first
    assert Path(path).read_bytes() == first
    assert not Path(path + ".tmp").exists()


def test_reserved_values_are_redrawn(tmp_path: Path) -> None:
    path = str(tmp_path / "id.bin")
    made = device_id.load_or_create(path, counter_bytes(b"\x00" * 6, b"\xff" * 6, b"abcdef"))
    assert made == b"abcdef"


def test_damaged_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "id.bin"
    path.write_bytes(b"\x01\x02")
    assert device_id.load(str(path)) is None
    made = device_id.load_or_create(str(path), lambda n: b"\x07" * n)
    assert made == b"\x07" * 6
    assert path.read_bytes() == made


def test_default_source_is_os_urandom(tmp_path: Path) -> None:
    a = device_id.load_or_create(str(tmp_path / "a.bin"))
    b = device_id.load_or_create(str(tmp_path / "b.bin"))
    assert len(a) == len(b) == 6 and a != b


def test_hex_form() -> None:
    assert device_id.hex_id(b"\x00\xab\x10\xff\x01\x02") == "00ab10ff0102"
