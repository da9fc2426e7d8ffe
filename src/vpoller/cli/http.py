"""``vpoller-http``: run the HTTP gateway in front of one or more vPoller proxies.

``--listen 127.0.0.1:0`` picks a free port; ``--port-file`` writes the bound
port once the gateway listens (for tests and supervisors).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from vpoller.cli.common import setup_logging
from vpoller.cli.connection import add_proxy_options, curve_of, endpoints_of
from vpoller.constants import (
    DEFAULT_GATEWAY_LISTEN,
    VERSION,
)
from vpoller.errors import VPollerError
from vpoller.gateway import Gateway, ProxyLink

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vpoller-http", description="HTTP/JSON gateway to vPoller proxies"
    )
    ap.add_argument(
        "--listen",
        default=DEFAULT_GATEWAY_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_GATEWAY_LISTEN}; port 0 picks one)",
    )
    ap.add_argument("--port-file", help="write the bound port to this file once listening")
    add_proxy_options(ap)
    ap.add_argument("-d", "--debug", action="store_true", help="log at debug level")
    ap.add_argument("-v", "--version", action="version", version=f"%(prog)s {VERSION}")
    return ap


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a pair; ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"--listen must be HOST:PORT, got {value!r}")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"--listen port must be 0 to 65535, got {number}")
    return host.strip("[]"), number


async def _serve(gateway: Gateway, port_file: str | None) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await gateway.start()
    try:
        if port_file:
            Path(port_file).write_text(f"{gateway.port}\n", encoding="utf-8")
        await stopping.wait()
        logger.info("stopping the HTTP gateway")
    finally:
        await gateway.stop()


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    setup_logging(args.debug)
    if not args.debug:
        logging.getLogger().setLevel(logging.INFO)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        ap.error(str(exc))
    try:
        curve = curve_of(args)
    except VPollerError as exc:
        ap.error(str(exc))

    async def run() -> None:
        # The link owns a zmq.asyncio context: create it inside the running loop.
        link = ProxyLink(endpoints_of(args), args.timeout, args.retries, curve)
        await _serve(Gateway(link, host, port), args.port_file)

    try:
        asyncio.run(run())
    except VPollerError as exc:
        sys.stderr.write(f"vpoller-http: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
