"""The agent registry: vSphere hosts the workers connect to, kept in SQLite.

One table ``agents`` (host primary key, port, user, Fernet-encrypted password,
enabled flag, TLS settings) plus a ``meta`` table with the schema version and
a generation counter that triggers bump on every change, so a worker can poll
``version()`` cheaply and reload when it moves. The legacy vconnector layout
(``hosts(host, user, pwd, enabled)`` with plain-text passwords) is never
written, only read by ``import_legacy``; both may live in one file.

Every failure is a ``RegistryError`` with a one-line message. Connections are
short-lived (one per call), so several processes may share the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from vpoller.errors import RegistryError
from vpoller.secrets import PasswordCipher, create_key_file, default_key_path

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
DEFAULT_PORT: Final = 443
DB_FILE_MODE: Final = 0o600  # host names and users are not public either
LOCK_TIMEOUT_S: Final = 5.0

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', {SCHEMA_VERSION});
INSERT OR IGNORE INTO meta (name, value) VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS agents (
    host          TEXT PRIMARY KEY NOT NULL,
    port          INTEGER NOT NULL DEFAULT {DEFAULT_PORT} CHECK (port BETWEEN 1 AND 65535),
    user          TEXT NOT NULL,
    pwd_encrypted BLOB NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    ca_file       TEXT,
    insecure      INTEGER NOT NULL DEFAULT 0 CHECK (insecure IN (0, 1))
);
CREATE TRIGGER IF NOT EXISTS agents_generation_insert AFTER INSERT ON agents
BEGIN UPDATE meta SET value = value + 1 WHERE name = 'generation'; END;
CREATE TRIGGER IF NOT EXISTS agents_generation_update AFTER UPDATE ON agents
BEGIN UPDATE meta SET value = value + 1 WHERE name = 'generation'; END;
CREATE TRIGGER IF NOT EXISTS agents_generation_delete AFTER DELETE ON agents
BEGIN UPDATE meta SET value = value + 1 WHERE name = 'generation'; END;
"""

_COLUMNS: Final = "host, port, user, pwd_encrypted, enabled, ca_file, insecure"


@dataclass(frozen=True)
class AgentRecord:
    """One registered vSphere agent (a vCenter or ESXi host)."""

    host: str
    user: str
    password: str = field(repr=False)
    port: int = 443
    enabled: bool = False
    ca_file: str | None = None
    insecure: bool = False


def _check_fields(host: str, user: str, password: str | None, port: int) -> None:
    """Reject values no vSphere login could use; ``password=None`` means unchanged."""
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise RegistryError(f"invalid host name {host!r}: must be non-empty, without spaces")
    if not isinstance(user, str) or not user:
        raise RegistryError(f"agent {host!r}: user must not be empty")
    if password is not None and (not isinstance(password, str) or not password):
        raise RegistryError(f"agent {host!r}: password must not be empty")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise RegistryError(f"agent {host!r}: port must be 1-65535, not {port!r}")


def _legacy_flag(value: object) -> bool:
    # The old tool wrote 0/1, but hand-edited files hold all sorts of truth.
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _sqlite_uri(path: Path, mode: str) -> str:
    # A URI with mode=rw/ro: sqlite3.connect must never create a missing file.
    return f"{path.absolute().as_uri()}?mode={mode}"


class Registry:
    """The agent registry in the SQLite file ``db_path``, passwords keyed by ``key_path``."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.key_path = Path(key_path) if key_path is not None else default_key_path(db_path)
        self._cipher: PasswordCipher | None = None

    def __repr__(self) -> str:
        return f"Registry({str(self.db_path)!r}, key_path={str(self.key_path)!r})"

    # -- connections ---------------------------------------------------------

    def _sqlite_error(self, e: sqlite3.Error) -> RegistryError:
        return RegistryError(f"registry {self.db_path} is unusable: {e}")

    @contextlib.contextmanager
    def _connect(self, *, check_schema: bool = True) -> Iterator[sqlite3.Connection]:
        if not self.db_path.is_file():
            raise RegistryError(
                f"registry {self.db_path} does not exist (create it with "
                f"'vconnector-cli -d {self.db_path} init')"
            )
        try:
            conn = sqlite3.connect(
                _sqlite_uri(self.db_path, "rw"),
                uri=True,
                timeout=LOCK_TIMEOUT_S,
                isolation_level=None,  # transactions are explicit, see _write
            )
        except sqlite3.Error as e:
            raise self._sqlite_error(e) from e
        try:
            if check_schema:
                self._check_schema(conn)
            yield conn
        except sqlite3.Error as e:
            raise self._sqlite_error(e) from e
        finally:
            conn.close()

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "agents" not in tables or "meta" not in tables:
            hint = (
                " (it is a legacy vconnector registry: use 'import')" if "hosts" in tables else ""
            )
            raise RegistryError(f"registry {self.db_path} is not initialised{hint}")
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            found = None if row is None else row[0]
            raise RegistryError(
                f"registry {self.db_path} has schema version {found}, "
                f"this vPoller reads version {SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one IMMEDIATE transaction: read-modify-write is atomic."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _cipher_or_load(self) -> PasswordCipher:
        if self._cipher is None:
            self._cipher = PasswordCipher.from_file(self.key_path)
        return self._cipher

    def _record(self, row: tuple[str, int, str, bytes, int, str | None, int]) -> AgentRecord:
        host, port, user, token, enabled, ca_file, insecure = row
        cipher = self._cipher_or_load()  # its errors (missing, unsafe key) pass as they are
        try:
            password = cipher.decrypt(token)
        except RegistryError as e:
            raise RegistryError(
                f"cannot decrypt the password of agent {host!r}: "
                f"wrong key file {self.key_path} or damaged registry"
            ) from e
        return AgentRecord(
            host=host,
            user=user,
            password=password,
            port=port,
            enabled=bool(enabled),
            ca_file=ca_file,
            insecure=bool(insecure),
        )

    @staticmethod
    def _row(
        conn: sqlite3.Connection, host: str
    ) -> tuple[str, int, str, bytes, int, str | None, int]:
        row = conn.execute(f"SELECT {_COLUMNS} FROM agents WHERE host = ?", (host,)).fetchone()
        if row is None:
            raise RegistryError(f"unknown agent {host!r}")
        return row  # type: ignore[no-any-return]  # sqlite3 rows are untyped tuples

    # -- public API ----------------------------------------------------------

    def init(self) -> None:
        """Create the parent folder, the database and the key file; safe to repeat.

        Refuses to create a new key for a database that already holds agents,
        since their passwords could never be decrypted again.
        """
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DB_FILE_MODE))
        except OSError as e:
            raise RegistryError(f"cannot create registry {self.db_path}: {e.strerror or e}") from e
        with self._connect(check_schema=False) as conn:
            conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            self._check_schema(conn)
            (count,) = conn.execute("SELECT count(*) FROM agents").fetchone()
        if not self.key_path.exists() and count:
            raise RegistryError(
                f"key file {self.key_path} is missing but registry {self.db_path} holds "
                f"{count} agent(s); restore the key file"
            )
        create_key_file(self.key_path)
        self._cipher = PasswordCipher.from_file(self.key_path)  # fail now on a bad key

    def agents(self, enabled_only: bool = False) -> list[AgentRecord]:
        """Every agent (or only enabled ones), sorted by host, passwords decrypted."""
        where = " WHERE enabled = 1" if enabled_only else ""
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM agents{where} ORDER BY host").fetchall()
        return [self._record(row) for row in rows]

    def get(self, host: str) -> AgentRecord:
        """The agent registered as ``host``; RegistryError when unknown."""
        with self._connect() as conn:
            row = self._row(conn, host)
        return self._record(row)

    def add(
        self,
        host: str,
        user: str,
        password: str,
        port: int = DEFAULT_PORT,
        *,
        ca_file: str | None = None,
        insecure: bool = False,
    ) -> None:
        """Register a new agent, disabled; RegistryError when ``host`` exists."""
        _check_fields(host, user, password, port)
        if ca_file and insecure:
            raise RegistryError(f"agent {host!r}: a CA file and insecure contradict each other")
        token = self._cipher_or_load().encrypt(password)
        with self._write() as conn:
            try:
                conn.execute(
                    f"INSERT INTO agents ({_COLUMNS}) VALUES (?, ?, ?, ?, 0, ?, ?)",
                    (host, port, user, token, ca_file or None, int(insecure)),
                )
            except sqlite3.IntegrityError as e:
                raise RegistryError(f"agent {host!r} is already registered") from e
        log.debug("added agent %s", host)

    def update(
        self,
        host: str,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        *,
        ca_file: str | None = None,
        insecure: bool | None = None,
    ) -> None:
        """Change the given fields of ``host``; the enabled flag and the rest are kept.

        ``ca_file=""`` removes the CA file (back to the system trust store).
        """
        if ca_file and insecure:
            raise RegistryError(f"agent {host!r}: a CA file and insecure contradict each other")
        token = None if password is None else self._cipher_or_load().encrypt(password)
        with self._write() as conn:
            _, old_port, old_user, old_token, _, old_ca, old_insecure = self._row(conn, host)
            new_user = old_user if user is None else user
            new_port = old_port if port is None else port
            _check_fields(host, new_user, password, new_port)
            conn.execute(
                "UPDATE agents SET port = ?, user = ?, pwd_encrypted = ?, ca_file = ?, "
                "insecure = ? WHERE host = ?",
                (
                    new_port,
                    new_user,
                    old_token if token is None else token,
                    old_ca if ca_file is None else (ca_file or None),
                    old_insecure if insecure is None else int(insecure),
                    host,
                ),
            )
        log.debug("updated agent %s", host)

    def _set_enabled(self, host: str, enabled: bool) -> None:
        with self._write() as conn:
            cur = conn.execute("UPDATE agents SET enabled = ? WHERE host = ?", (int(enabled), host))
            if cur.rowcount == 0:
                raise RegistryError(f"unknown agent {host!r}")
        log.debug("%s agent %s", "enabled" if enabled else "disabled", host)

    def enable(self, host: str) -> None:
        """Let workers serve ``host``."""
        self._set_enabled(host, True)

    def disable(self, host: str) -> None:
        """Stop workers serving ``host`` (it stays registered)."""
        self._set_enabled(host, False)

    def remove(self, host: str) -> None:
        """Forget ``host``; RegistryError when unknown."""
        with self._write() as conn:
            if conn.execute("DELETE FROM agents WHERE host = ?", (host,)).rowcount == 0:
                raise RegistryError(f"unknown agent {host!r}")
        log.debug("removed agent %s", host)

    def import_legacy(self, old_db_path: str | os.PathLike[str]) -> int:
        """Copy the agents of an old vconnector registry here, encrypting passwords.

        Enabled flags are kept; hosts already registered get the old user,
        password and enabled flag and keep their port and TLS settings. Rows
        with an empty host, user or password are skipped with a warning.
        Imported agents verify TLS (the old tool never did): a server with a
        self-signed certificate needs ``update(host, ca_file=...)`` or
        ``insecure=True`` afterwards.
        Returns the number of agents imported. The old file is not changed.
        """
        old = Path(old_db_path)
        if not old.is_file():
            raise RegistryError(f"legacy registry {old} does not exist")
        try:
            with contextlib.closing(sqlite3.connect(_sqlite_uri(old, "ro"), uri=True)) as src:
                rows = src.execute("SELECT host, user, pwd, enabled FROM hosts").fetchall()
        except sqlite3.Error as e:
            raise RegistryError(f"{old} is not a readable legacy vconnector registry: {e}") from e
        cipher = self._cipher_or_load()
        imported = 0
        with self._write() as conn:
            for host, user, pwd, enabled in rows:
                try:
                    # None means "unchanged" to _check_fields; here it is a missing password.
                    _check_fields(host, user, pwd if isinstance(pwd, str) else "", DEFAULT_PORT)
                except RegistryError as e:
                    log.warning("skipping legacy agent: %s", e)
                    continue
                conn.execute(
                    f"INSERT INTO agents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, 0) "
                    "ON CONFLICT (host) DO UPDATE SET user = excluded.user, "
                    "pwd_encrypted = excluded.pwd_encrypted, enabled = excluded.enabled",
                    (host, DEFAULT_PORT, user, cipher.encrypt(pwd), int(_legacy_flag(enabled))),
                )
                imported += 1
        log.info("imported %d agent(s) from legacy registry %s", imported, old)
        return imported

    def version(self) -> int:
        """A counter that changes whenever any agent is added, changed or removed."""
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()
        return int(row[0]) if row is not None else 0

    def mtime(self) -> float:
        """The database file's modification time (seconds since the epoch)."""
        try:
            return self.db_path.stat().st_mtime
        except OSError as e:
            raise RegistryError(f"registry {self.db_path}: {e.strerror or e}") from e
