"""What ``vpoller-proxy`` and ``vpoller-worker`` share: their command line,
signal handling, and the ``stop``/``status`` management commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
from prometheus_client import CollectorRegistry

from vpoller import config
from vpoller.client import management_request
from vpoller.config import CurveSettings, Settings
from vpoller.constants import VERSION
from vpoller.errors import VPollerError
from vpoller.metrics import metrics_url, serve_metrics

logger = logging.getLogger(__name__)

PARENT_ENV = "VPOLLER_EXIT_WITH_PARENT"


class Daemon(Protocol):
    """A component with the house daemon interface."""

    def start(self) -> None: ...
    def stop(self, timeout: float | None = None) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    @property
    def running(self) -> bool: ...


def parser(prog: str, description: str, default_mgmt: str) -> argparse.ArgumentParser:
    """The shared command line: ``[-d] [-f FILE] start`` or ``-e ENDPOINT stop|status``."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("command", choices=("start", "stop", "status"))
    ap.add_argument("-d", "--debug", action="store_true", help="log at debug level")
    ap.add_argument(
        "-f", "--file", default=None, help="configuration file (default /etc/vpoller/vpoller.conf)"
    )
    ap.add_argument(
        "-e",
        "--endpoint",
        default=None,
        help=f"management endpoint for stop/status (default {default_mgmt})",
    )
    ap.add_argument(
        "--endpoints-file",
        default=None,
        help="after start, write the bound endpoints as JSON to this file",
    )
    ap.add_argument(
        "--curve-key",
        default=None,
        help="stop/status: CURVE key pair to authenticate with (default [curve] secret_key)",
    )
    ap.add_argument(
        "--curve-server-key",
        default=None,
        help="stop/status: public key of the endpoint (default: that of [curve] secret_key)",
    )
    ap.add_argument("-v", "--version", action="version", version=f"%(prog)s {VERSION}")
    return ap


def mgmt_curve(settings: Settings, args: argparse.Namespace) -> CurveSettings:
    """CURVE settings for ``stop``/``status``.

    By default the command runs on the component's host with its configuration,
    so it authenticates with the component's own key pair, which is also the
    endpoint's server key; the options override both for remote management.
    """
    curve = settings.curve
    key = args.curve_key or curve.secret_key
    server_key = args.curve_server_key or curve.secret_key
    enabled = curve.enabled or bool(args.curve_server_key)
    return CurveSettings(enabled=enabled, secret_key=key, server_key=server_key)


def load_settings(path: str | None) -> Settings:
    return config.load(path)


def mgmt_command(endpoint: str, command: str, curve: CurveSettings) -> int:
    """Run ``stop`` or ``status`` against a management endpoint and print the reply."""
    method = "shutdown" if command == "stop" else "status"
    reply = management_request(endpoint, method, curve=curve)
    sys.stdout.write(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode() + "\n")
    return int(reply.get("success", 1))


def serve(
    daemon: Daemon,
    endpoints: Callable[[], dict[str, Any]],
    endpoints_file: str | None,
    metrics: tuple[CollectorRegistry, str, int] | None = None,
) -> int:
    """Start ``daemon`` (and its metrics endpoint), stop on SIGTERM/SIGINT, return the status.

    ``metrics`` is (registry, address, port); port 0 means no metrics endpoint.
    """
    server = serve_metrics(*metrics) if metrics is not None else None
    try:
        return _serve(daemon, lambda: {**endpoints(), **metrics_url(server)}, endpoints_file)
    finally:
        if server is not None:
            server.stop()


def _serve(
    daemon: Daemon, endpoints: Callable[[], dict[str, Any]], endpoints_file: str | None
) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("received signal %d; stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
    except VPollerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if endpoints_file:
        Path(endpoints_file).write_bytes(orjson.dumps(endpoints()))
    watched = _watched_parent()
    while daemon.running and not stopping.wait(0.2):
        if watched is not None and os.getppid() != watched:
            logger.warning("parent process %d is gone; stopping", watched)
            break
    daemon.stop(30.0)
    return 0


def _watched_parent() -> int | None:
    """The pid in ``VPOLLER_EXIT_WITH_PARENT``: stop when that parent goes away.

    Test harnesses set it so that a killed test run leaves no daemon behind.
    """
    raw = os.environ.get(PARENT_ENV)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        logger.warning("ignoring %s=%r: not a pid", PARENT_ENV, raw)
        return None
