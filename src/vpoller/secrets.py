"""Encryption of agent passwords at rest: Fernet tokens, key in its own 0600 file.

The registry database holds only Fernet tokens; the key that opens them lives
in a separate file beside it, so a copied or backed-up database alone gives no
passwords away.

Key file policy: we *refuse* a key file that group or others may read or write
(mode & 0o077), the way ssh refuses such private keys. A warning would be
scrolled past in a daemon's log while the secret stays exposed; a refusal
names the file and the fix (``chmod 600``) in one line.

Nothing here logs or formats a password or a key, at any level.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

from vpoller.errors import RegistryError

log = logging.getLogger(__name__)

KEY_FILE_MODE: Final = 0o600
KEY_FILE_SUFFIX: Final = ".key"
_FORBIDDEN_MODE_BITS: Final = 0o077  # any permission for group or others
_MAX_KEY_FILE_BYTES: Final = 4_096  # a Fernet key is 44 bytes; anything huge is not one


def default_key_path(db_path: str | os.PathLike[str]) -> Path:
    """The key file that belongs to a registry database: same folder, suffix ``.key``."""
    return Path(db_path).with_suffix(KEY_FILE_SUFFIX)


def create_key_file(path: str | os.PathLike[str]) -> bool:
    """Create a new random key at ``path`` with mode 0600, unless one exists.

    Returns True when a key was created. The key is written to a private
    temporary file and then hard-linked into place, so a concurrent reader
    never sees a half-written key and two concurrent creators cannot both win.
    """
    path = Path(path)
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # The mode is given at creation (umask can only narrow it): there is no
        # window in which the file exists with wider permissions.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    except OSError as e:
        raise RegistryError(f"cannot create key file {path}: {e.strerror or e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created registry key file %s", path)
    return True


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as e:
        raise RegistryError(f"key file {path} does not exist (run 'init')") from e
    except OSError as e:
        raise RegistryError(f"cannot read key file {path}: {e.strerror or e}") from e
    try:
        # fstat on the open descriptor: the checked file is the file we read.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RegistryError(f"key file {path} is not a regular file")
        if st.st_mode & _FORBIDDEN_MODE_BITS:
            raise RegistryError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run 'chmod 600 {path}'"
            )
        return os.read(fd, _MAX_KEY_FILE_BYTES)
    except OSError as e:
        raise RegistryError(f"cannot read key file {path}: {e.strerror or e}") from e
    finally:
        os.close(fd)


class PasswordCipher:
    """Encrypts and decrypts passwords with one Fernet key."""

    def __init__(self, key: bytes, *, source: str = "the registry key") -> None:
        """Use ``key`` (urlsafe base64, 32 bytes); ``source`` names it in errors."""
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as e:
            raise RegistryError(f"{source} is not a valid Fernet key") from e

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PasswordCipher:
        """Load the key from ``path``; RegistryError when missing, unsafe or invalid."""
        path = Path(path)
        return cls(_read_key_file(path).strip(), source=f"key file {path}")

    def encrypt(self, password: str) -> bytes:
        """The Fernet token of ``password`` (UTF-8)."""
        return self._fernet.encrypt(password.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The password inside ``token``; RegistryError for a wrong key or bad token."""
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except (InvalidToken, TypeError, UnicodeDecodeError) as e:
            raise RegistryError(
                "cannot decrypt a stored password: wrong key file or damaged database"
            ) from e

    def __repr__(self) -> str:
        return "PasswordCipher(<key hidden>)"
