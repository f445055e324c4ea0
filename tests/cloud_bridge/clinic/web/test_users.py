import pytest

from cloud_bridge.clinic.web import users


@pytest.fixture
def conn(tmp_path):
    c = users.open_users(tmp_path / "clinic.db")
    yield c
    c.close()


def test_add_and_log_in(conn) -> None:
    users.add_user(conn, "jd", "correct horse battery", 1000)
    assert users.attempt_login(conn, "jd", "correct horse battery", 2000).user == \
        users.User("jd", 1000)
    assert users.attempt_login(conn, "jd", "wrong password", 2000).user is None
    assert users.attempt_login(conn, "nobody", "correct horse battery", 2000).user is None
    assert users.count_users(conn) == 1


def test_adding_twice_needs_replace(conn) -> None:
    users.add_user(conn, "jd", "correct horse battery", 1000)
    with pytest.raises(users.UserError, match="--replace"):
        users.add_user(conn, "jd", "another password", 2000)
    users.add_user(conn, "jd", "another password", 2000, replace=True)
    assert users.get_user(conn, "jd") == users.User("jd", 2000)


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "jd;drop", "é"])
def test_names_are_plain(conn, name: str) -> None:
    with pytest.raises(users.UserError, match="user name"):
        users.add_user(conn, name, "correct horse battery", 0)


def test_the_wait_doubles_after_the_free_failures() -> None:
    assert [users.wait_s(n) for n in range(7)] == [0, 0, 0, 1, 2, 4, 8]
    assert users.wait_s(100) == users.MAX_WAIT_S


def test_a_refused_attempt_is_not_counted(conn) -> None:
    users.add_user(conn, "jd", "correct horse battery", 0)
    for t in (1000, 1100, 1200):
        assert users.attempt_login(conn, "jd", "wrong", t).retry_after_s is None
    refused = users.attempt_login(conn, "jd", "wrong", 1500)
    assert refused.user is None and refused.retry_after_s == 1
    # Still 1 s after the third failure, not after the refused attempt.
    assert users.attempt_login(conn, "jd", "correct horse battery", 2200).user is not None
