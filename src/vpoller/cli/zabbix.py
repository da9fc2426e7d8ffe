"""``vpoller-zabbix``: a Zabbix external check -- one request with the zabbix helper.

Positional arguments, in the order an item key passes them (an empty
argument means "absent", so later ones can still be given)::

    vpoller-zabbix [options] <method> <hostname> [<name>] [<properties>] [<key>]
                   [<counter-name>] [<instance>] [<max-sample>] [<perf-interval>]

It prints what Zabbix expects: the bare value of a get, low-level discovery
JSON for a discover, and the ``msg`` of a failed request (an error the proxy
or the client answered itself included). Zabbix keeps stdout *and* stderr as
the value, so nothing else is printed unless ``-d`` is given. The exit status
is 0 with a value, 1 after an error (Zabbix ignores it; shell users do not).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import orjson

from vpoller.cli.connection import add_proxy_options, curve_of, endpoints_of
from vpoller.client import Client
from vpoller.constants import (
    DEFAULT_CLIENT_ENDPOINT,
    NO_RESPONSE_MSG,
    VERSION,
)
from vpoller.errors import VPollerError

HELPER = "vpoller.helpers.zabbix"
POSITIONAL = (
    "name",
    "properties",
    "key",
    "counter-name",
    "instance",
    "max-sample",
    "perf-interval",
)
ENDPOINT_ENV = "VPOLLER_ENDPOINT"  # comma-separated, for the Zabbix server's environment


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vpoller-zabbix",
        description="Zabbix external check: one vPoller request, formatted for Zabbix",
    )
    ap.add_argument("method", help="task method, e.g. vm.get")
    ap.add_argument("hostname", help="vSphere agent (as registered)")
    for key in POSITIONAL:
        ap.add_argument(
            key.replace("-", "_"),
            metavar=key,
            nargs="?",
            default="",
            help=f"request key '{key}' ('' = absent)",
        )
    add_proxy_options(ap, f"${ENDPOINT_ENV} or {DEFAULT_CLIENT_ENDPOINT}")
    ap.add_argument("-U", "--guest-username", help="guest OS user (vm.process.get)")
    ap.add_argument("-P", "--guest-password", help="guest OS password (vm.process.get)")
    ap.add_argument("-d", "--debug", action="store_true", help="log to stderr at debug level")
    ap.add_argument("-v", "--version", action="version", version=f"%(prog)s {VERSION}")
    return ap


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The wire request: the positional keys that are not empty, and the zabbix helper."""
    request: dict[str, Any] = {"method": args.method, "hostname": args.hostname, "helper": HELPER}
    for key in POSITIONAL:
        value = getattr(args, key.replace("-", "_"))
        if value != "":
            request[key] = value
    if args.guest_username is not None:
        request["username"] = args.guest_username
    if args.guest_password is not None:
        request["password"] = args.guest_password
    return request


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Anything on stderr would become part of the item's value: log only when asked.
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL + 1)
    endpoints = endpoints_of(args, os.environ.get(ENDPOINT_ENV, DEFAULT_CLIENT_ENDPOINT).split(","))
    try:
        client = Client(
            endpoints, timeout_ms=args.timeout, retries=args.retries, curve=curve_of(args)
        )
        raw = client.run_raw(build_request(args))
    except VPollerError as exc:
        sys.stdout.write(f"{exc}\n")
        return 1
    if raw is None:
        sys.stdout.write(NO_RESPONSE_MSG + "\n")
        return 1
    text = raw.decode("utf-8", errors="replace").rstrip("\x00")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict) and "success" in value:
        # A JSON reply despite the helper: an error the proxy answered itself.
        sys.stdout.write(f"{value.get('msg', '')}\n")
        return 0 if value.get("success") == 0 else 1
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
