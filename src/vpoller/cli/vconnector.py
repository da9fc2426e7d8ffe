"""``vconnector-cli``: manage the agent registry (the vSphere hosts workers connect to).

Command lines (SPEC.md), options in any order before or after the command::

    vconnector-cli [-D] [-d <db>] init
    vconnector-cli [-D] [-d <db>] [-H <host>] get
    vconnector-cli [-D] [-d <db>] -H <host> (enable|disable|remove)
    vconnector-cli [-D] [-d <db>] -H <host> -U <user> -P <pwd> (add|update)
    vconnector-cli [-D] [-d <db>] import <old-db>

Exit status: 0 on success, 1 for a registry error, 2 for a usage error; each
error is one line on stderr. Passwords are never printed; ``-P -`` reads the
password from the first line of stdin so it stays out of the process list.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from vpoller.cli.common import setup_logging
from vpoller.constants import DEFAULT_REGISTRY_DB, VERSION
from vpoller.errors import RegistryError
from vpoller.registry import DEFAULT_PORT, AgentRecord, Registry

log = logging.getLogger(__name__)

PROG = "vconnector-cli"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

COMMANDS = ("init", "get", "enable", "disable", "remove", "add", "update", "import")
_HOST_COMMANDS = frozenset({"enable", "disable", "remove", "add", "update"})


class UsageError(Exception):
    """The command line is malformed; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints usage plus message; we promise one line per error.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vconnector-cli``."""
    p = _Parser(prog=PROG, description="Manage the vPoller agent registry.")
    p.add_argument("-v", "--version", action="version", version=f"%(prog)s {VERSION}")
    p.add_argument("-D", "--debug", action="store_true", help="log at DEBUG level")
    p.add_argument(
        "-d",
        "--database",
        default=DEFAULT_REGISTRY_DB,
        metavar="DB",
        help=f"registry database (default {DEFAULT_REGISTRY_DB})",
    )
    p.add_argument("--key-file", metavar="PATH", help="password key file (default: <db>.key)")
    p.add_argument("-H", "--host", help="vSphere host (vCenter or ESXi), as clients name it")
    p.add_argument("-U", "--user", help="vSphere user")
    p.add_argument("-P", "--pwd", metavar="PWD", help="vSphere password; '-' reads it from stdin")
    p.add_argument("--port", type=int, help=f"vSphere HTTPS port (default {DEFAULT_PORT})")
    p.add_argument(
        "--ca-file",
        metavar="PEM",
        help="CA bundle to verify the server with; '' on update goes back to the system CAs",
    )
    tls = p.add_mutually_exclusive_group()
    tls.add_argument(
        "--insecure", action="store_true", default=None, help="do not verify the TLS certificate"
    )
    tls.add_argument(
        "--verify",
        dest="insecure",
        action="store_false",
        help="verify the TLS certificate again (update)",
    )
    p.add_argument("command", choices=COMMANDS, help="what to do")
    p.add_argument("old_db", nargs="?", metavar="OLD-DB", help="legacy registry (import only)")
    return p


def _check_usage(args: argparse.Namespace) -> None:
    cmd = args.command
    if cmd == "import" and args.old_db is None:
        raise UsageError("import needs the legacy registry path: import <old-db>")
    if cmd != "import" and args.old_db is not None:
        raise UsageError(f"unexpected argument {args.old_db!r} after {cmd}")
    if cmd in _HOST_COMMANDS and not args.host:
        raise UsageError(f"{cmd} needs -H <host>")
    if cmd == "add" and (args.user is None or args.pwd is None):
        raise UsageError("add needs -U <user> and -P <pwd>")
    changes = (args.user, args.pwd, args.port, args.ca_file, args.insecure)
    if cmd == "update" and all(c is None for c in changes):
        raise UsageError("update needs something to change: -U, -P, --port, --ca-file, --insecure")
    if cmd not in {"add", "update"} and any(c is not None for c in changes):
        raise UsageError(
            f"-U, -P, --port, --ca-file, --insecure apply to add and update, not {cmd}"
        )


def _password(value: str) -> str:
    if value != "-":
        return value
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError("-P -: no password on stdin")
    return line


def _ca_file(value: str | None) -> str | None:
    # Stored absolute: the worker resolves it from its own working directory.
    if not value:
        return value
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--ca-file {value}: no such file")
    return str(path.resolve())


def _tls(agent: AgentRecord) -> str:
    if agent.insecure:
        return "INSECURE"
    return agent.ca_file or "verified"


def format_agents(agents: Sequence[AgentRecord]) -> str:
    """The ``get`` table: host, port, user, enabled, TLS; never a password."""
    rows = [("HOST", "PORT", "USER", "ENABLED", "TLS")]
    rows += [(a.host, str(a.port), a.user, "yes" if a.enabled else "no", _tls(a)) for a in agents]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def run(args: argparse.Namespace) -> None:
    """Carry out one parsed command line; RegistryError or UsageError on failure."""
    reg = Registry(args.database, args.key_file)
    cmd, host = args.command, args.host
    if cmd == "init":
        reg.init()
        print(f"Registry {reg.db_path} is ready (key file {reg.key_path})")
    elif cmd == "get":
        print(format_agents([reg.get(host)] if host else reg.agents()))
    elif cmd == "enable":
        reg.enable(host)
        print(f"Agent {host} enabled")
    elif cmd == "disable":
        reg.disable(host)
        print(f"Agent {host} disabled")
    elif cmd == "remove":
        reg.remove(host)
        print(f"Agent {host} removed")
    elif cmd == "add":
        reg.add(
            host,
            args.user,
            _password(args.pwd),
            DEFAULT_PORT if args.port is None else args.port,
            ca_file=_ca_file(args.ca_file),
            insecure=bool(args.insecure),
        )
        print(f"Agent {host} added, disabled: enable it with '-H {host} enable'")
    elif cmd == "update":
        reg.update(
            host,
            args.user,
            None if args.pwd is None else _password(args.pwd),
            args.port,
            ca_file=_ca_file(args.ca_file),
            insecure=args.insecure,
        )
        print(f"Agent {host} updated")
    elif cmd == "import":
        count = reg.import_legacy(args.old_db)
        print(f"Imported {count} agent(s) from {args.old_db}; TLS verification is on for them.")
        print(f"{args.old_db} still holds plain-text passwords: delete it once you are done.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vconnector-cli``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        print(f"{PROG}: error: {e} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else EXIT_OK
    setup_logging(args.debug)
    try:
        _check_usage(args)
        run(args)
    except UsageError as e:
        print(f"{PROG}: error: {e} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except RegistryError as e:
        # The cause, not a traceback: the promise is one line per error.
        log.debug("registry error caused by %r", e.__cause__)
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
