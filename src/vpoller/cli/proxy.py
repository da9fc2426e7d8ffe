"""``vpoller-proxy``: run the proxy, or ask a running one for status / to stop."""

from __future__ import annotations

import logging
import sys

from vpoller.cli import daemon
from vpoller.cli.common import setup_logging
from vpoller.constants import DEFAULT_PROXY_MGMT
from vpoller.errors import VPollerError
from vpoller.proxy import Proxy


def main(argv: list[str] | None = None) -> int:
    args = daemon.parser(
        "vpoller-proxy",
        "vPoller proxy: load-balances client requests to vPoller workers",
        DEFAULT_PROXY_MGMT,
    ).parse_args(argv)
    setup_logging(args.debug)
    if not args.debug:
        logging.getLogger().setLevel(logging.INFO)
    try:
        settings = daemon.load_settings(args.file)
        if args.command != "start":
            endpoint = args.endpoint or settings.proxy.mgmt.replace("*", "localhost")
            return daemon.mgmt_command(endpoint, args.command, daemon.mgmt_curve(settings, args))
        proxy = Proxy(settings.proxy, settings.curve)
        s = settings.proxy
        return daemon.serve(
            proxy,
            lambda: proxy.endpoints,
            args.endpoints_file,
            (proxy.metrics.registry, s.metrics_address, s.metrics_port),
        )
    except VPollerError as exc:
        sys.stderr.write(f"vpoller-proxy: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
