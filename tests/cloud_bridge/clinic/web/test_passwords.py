import pytest

from cloud_bridge.clinic.web import passwords


def test_hash_and_verify() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith(f"scrypt${passwords.N}${passwords.R}${passwords.P}$")
    assert passwords.verify_password("correct horse battery", stored)
    assert not passwords.verify_password("correct horse batterY", stored)
    # Salted: the same password never hashes the same twice.
    assert passwords.hash_password("correct horse battery") != stored


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$1$2$3", "md5$16384$8$1$AA==$AA==",
                                    "scrypt$x$8$1$AA==$AA==", "scrypt$16384$8$1$!!$AA=="])
def test_an_unreadable_hash_matches_nothing(stored: str) -> None:
    assert not passwords.verify_password("anything at all", stored)


def test_new_passwords_need_a_length() -> None:
    with pytest.raises(passwords.PasswordError, match="at least 10"):
        passwords.check_new("short")
    with pytest.raises(passwords.PasswordError, match="at most"):
        passwords.check_new("x" * (passwords.MAX_LENGTH + 1))
    passwords.check_new("ten chars!")
