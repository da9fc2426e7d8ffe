"""Unit tests of the agent registry (vpoller.registry) and password encryption (vpoller.secrets)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from vpoller.errors import RegistryError
from vpoller.registry import AgentRecord, Registry
from vpoller.secrets import PasswordCipher, create_key_file, default_key_path

PASSWORD = "Pl41n-T3xt-Secret!"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lib" / "vconnector" / "vconnector.db"


@pytest.fixture
def reg(db: Path) -> Registry:
    registry = Registry(db)
    registry.init()
    return registry


@pytest.fixture
def umask_zero() -> Iterator[None]:
    # With umask 0 a careless create would give 0644 or worse: the mode must still be 0600.
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def make_legacy(path: Path, rows: list[tuple[object, object, object, object]]) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE hosts (host TEXT, user TEXT, pwd TEXT, enabled INTEGER)")
        conn.executemany("INSERT INTO hosts VALUES (?, ?, ?, ?)", rows)
    conn.close()
    return path


# -- init and files -------------------------------------------------------------------------


def test_registry_key_path_defaults_beside_db() -> None:
    reg = Registry("/var/lib/vconnector/vconnector.db")
    assert reg.key_path == Path("/var/lib/vconnector/vconnector.key")


def test_registry_init_creates_parent_db_and_key(db: Path) -> None:
    Registry(db).init()
    assert db.is_file()
    assert default_key_path(db).is_file()


def test_registry_init_is_idempotent(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    key_before = reg.key_path.read_bytes()
    Registry(reg.db_path).init()
    assert reg.key_path.read_bytes() == key_before
    assert Registry(reg.db_path).get("vc01").password == PASSWORD


@pytest.mark.usefixtures("umask_zero")
def test_secrets_key_file_mode_is_0600(tmp_path: Path) -> None:
    Registry(tmp_path / "r.db").init()
    assert stat.S_IMODE((tmp_path / "r.key").stat().st_mode) == 0o600


@pytest.mark.usefixtures("umask_zero")
def test_registry_db_file_mode_is_0600(tmp_path: Path) -> None:
    Registry(tmp_path / "r.db").init()
    assert stat.S_IMODE((tmp_path / "r.db").stat().st_mode) == 0o600


def test_secrets_create_key_file_keeps_existing_key(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    assert create_key_file(key) is True
    first = key.read_bytes()
    assert create_key_file(key) is False
    assert key.read_bytes() == first


def test_registry_uses_explicit_key_path(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.db", tmp_path / "keys" / "custom.key")
    reg.init()
    reg.add("vc01", "admin", PASSWORD)
    assert (tmp_path / "keys" / "custom.key").is_file()
    assert not (tmp_path / "r.key").exists()


def test_registry_init_refuses_new_key_for_populated_db(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.key_path.unlink()
    with pytest.raises(RegistryError, match="restore the key file"):
        reg.init()


# -- add / get / update / enable / disable / remove -------------------------------------------


def test_registry_add_starts_disabled(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    assert reg.get("vc01").enabled is False


def test_registry_get_returns_stored_record(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD, 8443, ca_file="/etc/ca.pem")
    assert reg.get("vc01") == AgentRecord(
        host="vc01", user="admin", password=PASSWORD, port=8443, ca_file="/etc/ca.pem"
    )


def test_registry_add_duplicate_raises(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("vc01", "other", "pw")


def test_registry_add_rejects_ca_file_with_insecure(reg: Registry) -> None:
    with pytest.raises(RegistryError, match="contradict"):
        reg.add("vc01", "admin", PASSWORD, ca_file="/etc/ca.pem", insecure=True)


@pytest.mark.parametrize(
    ("host", "user", "password", "port"),
    [
        ("", "u", "p", 443),
        ("vc 01", "u", "p", 443),
        ("vc01", "", "p", 443),
        ("vc01", "u", "", 443),
        ("vc01", "u", "p", 0),
        ("vc01", "u", "p", 65536),
    ],
)
def test_registry_add_rejects_invalid_fields(
    reg: Registry, host: str, user: str, password: str, port: int
) -> None:
    with pytest.raises(RegistryError):
        reg.add(host, user, password, port)


def test_registry_update_keeps_enabled(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.enable("vc01")
    reg.update("vc01", "admin2", "new-password")
    assert reg.get("vc01").enabled is True


def test_registry_update_changes_given_fields(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.update("vc01", "admin2", "new-password", 8443, insecure=True)
    record = reg.get("vc01")
    assert (record.user, record.password, record.port, record.insecure) == (
        "admin2",
        "new-password",
        8443,
        True,
    )


def test_registry_update_keeps_fields_not_given(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD, 8443, ca_file="/etc/ca.pem")
    reg.update("vc01", password="new-password")
    record = reg.get("vc01")
    assert (record.user, record.port, record.ca_file) == ("admin", 8443, "/etc/ca.pem")


def test_registry_update_empty_ca_file_clears_it(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD, ca_file="/etc/ca.pem")
    reg.update("vc01", ca_file="")
    assert reg.get("vc01").ca_file is None


def test_registry_update_insecure_false_turns_verification_on(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD, insecure=True)
    reg.update("vc01", insecure=False)
    assert reg.get("vc01").insecure is False


def test_registry_enable_sets_flag(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.enable("vc01")
    assert reg.get("vc01").enabled is True


def test_registry_disable_clears_flag(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.enable("vc01")
    reg.disable("vc01")
    assert reg.get("vc01").enabled is False


def test_registry_remove_forgets_host(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.remove("vc01")
    assert reg.agents() == []


def test_registry_agents_sorted_by_host(reg: Registry) -> None:
    for host in ("vc03", "esx01", "vc01"):
        reg.add(host, "admin", PASSWORD)
    assert [a.host for a in reg.agents()] == ["esx01", "vc01", "vc03"]


def test_registry_agents_enabled_only_filters(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.add("vc02", "admin", PASSWORD)
    reg.enable("vc02")
    assert [a.host for a in reg.agents(enabled_only=True)] == ["vc02"]


@pytest.mark.parametrize("operation", ["get", "enable", "disable", "remove", "update"])
def test_registry_unknown_host_raises(reg: Registry, operation: str) -> None:
    with pytest.raises(RegistryError, match="unknown agent 'nope'"):
        getattr(reg, operation)("nope")


def test_registry_version_changes_on_write(reg: Registry) -> None:
    before = reg.version()
    reg.add("vc01", "admin", PASSWORD)
    assert reg.version() != before


def test_registry_version_stable_without_write(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    before = reg.version()
    reg.agents()
    assert reg.version() == before


def test_agent_record_repr_hides_password() -> None:
    assert PASSWORD not in repr(AgentRecord("vc01", "admin", PASSWORD))


# -- secrecy -----------------------------------------------------------------------------------


def test_registry_db_bytes_do_not_contain_password(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.update("vc01", password=PASSWORD + "2")
    assert PASSWORD.encode() not in reg.db_path.read_bytes()


def test_registry_never_logs_password(reg: Registry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reg.add("vc01", "admin", PASSWORD)
    reg.update("vc01", password=PASSWORD)
    reg.get("vc01")
    assert PASSWORD not in caplog.text


def test_registry_key_readable_by_others_is_refused(reg: Registry) -> None:
    reg.key_path.chmod(0o644)
    with pytest.raises(RegistryError, match="chmod 600"):
        Registry(reg.db_path).add("vc01", "admin", PASSWORD)


def test_registry_missing_key_raises(reg: Registry) -> None:
    reg.add("vc01", "admin", PASSWORD)
    reg.key_path.unlink()
    with pytest.raises(RegistryError, match="does not exist"):
        Registry(reg.db_path).get("vc01")


def test_registry_invalid_key_raises(reg: Registry) -> None:
    reg.key_path.write_bytes(b"not a key\n")
    with pytest.raises(RegistryError, match="not a valid Fernet key"):
        Registry(reg.db_path).add("vc01", "admin", PASSWORD)


def test_registry_wrong_key_raises(reg: Registry, tmp_path: Path) -> None:
    reg.add("vc01", "admin", PASSWORD)
    other_key = tmp_path / "other.key"
    create_key_file(other_key)
    with pytest.raises(RegistryError, match="cannot decrypt the password of agent 'vc01'"):
        Registry(reg.db_path, other_key).get("vc01")


@given(st.text(min_size=1))
def test_secrets_round_trip_any_password(password: str) -> None:
    cipher = PasswordCipher(Fernet.generate_key())
    assert cipher.decrypt(cipher.encrypt(password)) == password


def test_secrets_bad_token_raises() -> None:
    with pytest.raises(RegistryError, match="cannot decrypt"):
        PasswordCipher(Fernet.generate_key()).decrypt(b"garbage")


# -- unusable databases ---------------------------------------------------------------------


def test_registry_missing_db_raises(db: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        Registry(db).agents()


def test_registry_missing_db_is_not_created(db: Path) -> None:
    with pytest.raises(RegistryError):
        Registry(db).agents()
    assert not db.exists()


def test_registry_corrupt_db_raises(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    db.write_bytes(b"this is not an sqlite database at all" * 100)
    with pytest.raises(RegistryError, match="unusable"):
        Registry(db).agents()


def test_registry_uninitialised_db_raises(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    sqlite3.connect(db).close()
    with pytest.raises(RegistryError, match="not initialised"):
        Registry(db).agents()


def test_registry_legacy_db_is_reported_as_legacy(tmp_path: Path) -> None:
    old = make_legacy(tmp_path / "old.db", [("vc01", "u", "p", 1)])
    with pytest.raises(RegistryError, match="legacy vconnector registry"):
        Registry(old).agents()


# -- legacy import -------------------------------------------------------------------------


def test_registry_import_legacy_reencrypts(reg: Registry, tmp_path: Path) -> None:
    old = make_legacy(tmp_path / "old.db", [("vc01", "admin", PASSWORD, 0)])
    reg.import_legacy(old)
    assert reg.get("vc01").password == PASSWORD
    assert PASSWORD.encode() not in reg.db_path.read_bytes()


def test_registry_import_legacy_keeps_enabled(reg: Registry, tmp_path: Path) -> None:
    old = make_legacy(tmp_path / "old.db", [("vc01", "u", "p1", 1), ("vc02", "u", "p2", 0)])
    reg.import_legacy(old)
    assert [(a.host, a.enabled) for a in reg.agents()] == [("vc01", True), ("vc02", False)]


def test_registry_import_legacy_returns_count(reg: Registry, tmp_path: Path) -> None:
    old = make_legacy(tmp_path / "old.db", [("vc01", "u", "p1", 1), ("vc02", "u", "p2", 0)])
    assert reg.import_legacy(old) == 2


def test_registry_import_legacy_updates_existing_host(reg: Registry, tmp_path: Path) -> None:
    reg.add("vc01", "admin", PASSWORD, 8443)
    old = make_legacy(tmp_path / "old.db", [("vc01", "olduser", "oldpw", 1)])
    reg.import_legacy(old)
    record = reg.get("vc01")
    assert (record.user, record.password, record.enabled, record.port) == (
        "olduser",
        "oldpw",
        True,
        8443,
    )


def test_registry_import_legacy_skips_incomplete_rows(reg: Registry, tmp_path: Path) -> None:
    old = make_legacy(
        tmp_path / "old.db",
        [("vc01", "u", "p", 1), (None, "u", "p", 1), ("vc02", "u", None, 1), ("vc03", "", "p", 0)],
    )
    assert reg.import_legacy(old) == 1


def test_registry_import_legacy_without_hosts_table_raises(reg: Registry, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(RegistryError, match="not a readable legacy vconnector registry"):
        reg.import_legacy(other)


def test_registry_import_legacy_missing_file_raises(reg: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        reg.import_legacy(tmp_path / "missing.db")


def test_registry_import_legacy_into_same_file(tmp_path: Path) -> None:
    # Upgrades find the old registry at the default path: both tables may share one file.
    db = make_legacy(tmp_path / "vconnector.db", [("vc01", "u", PASSWORD, 1)])
    reg = Registry(db)
    reg.init()
    reg.import_legacy(db)
    assert reg.get("vc01").password == PASSWORD
