from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.web.sessions import Session, Signer, load_secret


def test_a_session_round_trips_until_it_expires() -> None:
    s = Signer(b"k" * 32)
    session = s.new_session(1000, 60, "jd", 5)
    value = s.encode(session)
    assert s.decode(value, 1059) == session
    assert s.decode(value, 1060) is None


def test_forged_or_broken_cookies_are_refused() -> None:
    s, other = Signer(b"k" * 32), Signer(b"x" * 32)
    value = s.encode(Session("sid", 2000, "jd", 5))
    mac = value.split(".")[1]
    evil = other.encode(Session("sid", 2000, "admin", 5)).split(".")[0]
    for bad in (None, "", "garbage", value + ".x", f"{evil}.{mac}", other.encode(
            Session("sid", 2000, "jd", 5)), "é." + mac, value.replace(".", "")):
        assert s.decode(bad, 1000) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    s = Signer(b"k" * 32)
    a, b = s.new_session(0, 60), s.new_session(0, 60)
    assert s.check_csrf(a, s.csrf_token(a))
    assert not s.check_csrf(b, s.csrf_token(a))
    assert not s.check_csrf(a, "") and not s.check_csrf(None, s.csrf_token(a))
    assert not s.check_csrf(a, "é")


def test_the_secret_is_made_once_and_kept(tmp_path) -> None:
    conn = open_clinic_db(tmp_path / "clinic.db")
    first = load_secret(conn)
    assert len(first) == 32 and load_secret(conn) == first
    conn.close()
