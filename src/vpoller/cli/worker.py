"""``vpoller-worker``: run the worker manager, or ask a running one for status / to stop."""

from __future__ import annotations

import logging
import sys

from vpoller.cli import daemon
from vpoller.cli.common import setup_logging
from vpoller.constants import DEFAULT_WORKER_MGMT
from vpoller.errors import VPollerError
from vpoller.worker.manager import WorkerManager


def main(argv: list[str] | None = None) -> int:
    ap = daemon.parser(
        "vpoller-worker",
        "vPoller worker: runs vSphere agents and answers requests from vPoller proxies",
        DEFAULT_WORKER_MGMT,
    )
    ap.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=None,
        help="number of worker processes (default: [worker] concurrency, 1)",
    )
    args = ap.parse_args(argv)
    setup_logging(args.debug)
    if not args.debug:
        logging.getLogger().setLevel(logging.INFO)
    if args.concurrency is not None and args.concurrency < 1:
        ap.error("--concurrency must be at least 1")
    try:
        settings = daemon.load_settings(args.file)
        if args.command != "start":
            endpoint = args.endpoint or settings.worker.mgmt.replace("*", "localhost")
            return daemon.mgmt_command(endpoint, args.command, daemon.mgmt_curve(settings, args))
        manager = WorkerManager(settings, args.concurrency, debug=args.debug)
        w = settings.worker
        return daemon.serve(
            manager,
            lambda: {"mgmt": manager.mgmt_endpoint},
            args.endpoints_file,
            (manager.metrics.registry, w.metrics_address, w.metrics_port),
        )
    except VPollerError as exc:
        sys.stderr.write(f"vpoller-worker: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
