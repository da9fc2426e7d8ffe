"""Command-line options for reaching a proxy, shared by every client-side program.

``vpoller-client``, ``vpoller-zabbix`` and ``vpoller-http`` take the same
``-e/-r/-t`` and CURVE options and turn them into the same settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vpoller.config import CurveSettings
from vpoller.constants import DEFAULT_CLIENT_ENDPOINT, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS
from vpoller.errors import ConfigError


def add_proxy_options(ap: argparse.ArgumentParser, default_endpoint_help: str = "") -> None:
    """Add ``-e/--endpoint`` (repeatable), ``-r``, ``-t`` and the CURVE key options."""
    default = default_endpoint_help or DEFAULT_CLIENT_ENDPOINT
    ap.add_argument(
        "-e",
        "--endpoint",
        action="append",
        default=None,
        help=f"proxy endpoint; repeat for failover (default {default})",
    )
    ap.add_argument(
        "-r",
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help=f"attempts before giving up (default {DEFAULT_RETRIES})",
    )
    ap.add_argument(
        "-t",
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT_MS,
        help=f"milliseconds to wait for each attempt (default {DEFAULT_TIMEOUT_MS})",
    )
    ap.add_argument(
        "--curve-key", help="client CURVE key-pair file (zcert NAME.key_secret, vpoller-keys)"
    )
    ap.add_argument(
        "--curve-server-key", help="proxy's CURVE public key file (zcert NAME.key); enables CURVE"
    )


def endpoints_of(args: argparse.Namespace, fallback: Sequence[str] = ()) -> list[str]:
    """The ``-e`` endpoints, else ``fallback``, else the default endpoint."""
    return list(args.endpoint or fallback or [DEFAULT_CLIENT_ENDPOINT])


def curve_of(args: argparse.Namespace) -> CurveSettings:
    """CURVE settings from the options: on when the proxy's public key is given.

    Without ``--curve-key`` a throwaway key pair is used, which a proxy that
    checks client keys refuses.
    """
    if args.curve_key and not args.curve_server_key:
        raise ConfigError("--curve-key needs --curve-server-key")
    return CurveSettings(
        enabled=bool(args.curve_server_key),
        secret_key=args.curve_key,
        server_key=args.curve_server_key,
    )
