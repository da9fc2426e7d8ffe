"""``vpoller-keys``: create and inspect CURVE key files (zcert format).

::

    vpoller-keys generate DIR NAME   # DIR/NAME.key (public), DIR/NAME.key_secret (0600)
    vpoller-keys show FILE           # the public key, and whether FILE holds a secret

The files are those of ``zmq.auth.create_certificates``: the proxy, the
worker, ``vpoller-client`` and ``vpoller-cclient`` all read them. ``show``
never prints a secret key. Exit status: 0 on success, 1 for a key-file
problem, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import zmq
import zmq.auth

from vpoller.constants import VERSION

PROG = "vpoller-keys"
EXIT_OK = 0
EXIT_ERROR = 1
SECRET_MODE = 0o600
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vpoller-keys``."""
    ap = argparse.ArgumentParser(prog=PROG, description="Create and inspect CURVE key files.")
    ap.add_argument("-v", "--version", action="version", version=f"%(prog)s {VERSION}")
    sub = ap.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a new key pair: NAME.key and NAME.key_secret")
    gen.add_argument("directory", metavar="DIR", help="folder for the key files (created)")
    gen.add_argument("name", metavar="NAME", help="base name of the key files, e.g. proxy")
    gen.add_argument("--force", action="store_true", help="overwrite existing key files")
    show = sub.add_parser("show", help="print the public key of a key file")
    show.add_argument("file", metavar="FILE", help="a .key or .key_secret file")
    return ap


def generate(directory: Path, name: str, force: bool = False) -> tuple[Path, Path]:
    """Write a fresh key pair; the secret file is created with mode 0600."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid key name {name!r}: use a plain file name such as 'proxy'")
    public, secret = directory / f"{name}{PUBLIC_SUFFIX}", directory / f"{name}{SECRET_SUFFIX}"
    existing = [str(path) for path in (public, secret) if path.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); use --force to replace")
    directory.mkdir(parents=True, exist_ok=True)
    for path in (public, secret):
        path.unlink(missing_ok=True)
    # The umask makes the secret file private from its first byte, not after a chmod.
    old_umask = os.umask(0o077)
    try:
        zmq.auth.create_certificates(str(directory), name)
    finally:
        os.umask(old_umask)
    secret.chmod(SECRET_MODE)
    public.chmod(0o644)
    return public, secret


def describe(path: Path) -> list[str]:
    """Lines describing a key file: its public key and whether a secret is present."""
    public, secret = zmq.auth.load_certificate(str(path))
    lines = [f"public-key: {public.decode('ascii')}"]
    if secret is None:
        lines.append("secret-key: absent")
        return lines
    lines.append("secret-key: present")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        lines.append(f"warning: {path} holds a secret key but has mode {mode:04o}; use 0600")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vpoller-keys``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            public, secret = generate(Path(args.directory), args.name, args.force)
            print(f"public key (give to peers): {public}")
            print(f"secret key (keep private, mode 0600): {secret}")
            print(*describe(public), sep="\n")
        else:
            print(*describe(Path(args.file)), sep="\n")
    except (OSError, ValueError, zmq.ZMQError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
