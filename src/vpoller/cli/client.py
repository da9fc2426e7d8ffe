"""``vpoller-client``: send one task request to a vPoller proxy and print the reply.

The exit status is the reply's ``success`` value (0 or 1).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import orjson

from vpoller.cli.common import setup_logging
from vpoller.cli.connection import add_proxy_options, curve_of, endpoints_of
from vpoller.client import Client
from vpoller.constants import VERSION
from vpoller.errors import VPollerError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vpoller-client", description="Send a task request to a vPoller proxy"
    )
    ap.add_argument("-m", "--method", required=True, help="task method, e.g. vm.get")
    ap.add_argument("-V", "--vsphere-host", required=True, help="vSphere agent (as registered)")
    ap.add_argument("-n", "--name", help="object name")
    ap.add_argument("-p", "--properties", help="comma-separated property paths")
    ap.add_argument("-k", "--key", help="extra filter (guest disk path, process command line)")
    ap.add_argument("-c", "--counter", help="performance counter, group.name.unit.rollup")
    ap.add_argument("-s", "--max-sample", help="number of performance samples")
    ap.add_argument("-i", "--instance", help="performance instance ('' for the aggregate)")
    ap.add_argument("-T", "--perf-interval", help="historical interval name, e.g. 'Past day'")
    ap.add_argument("-U", "--guest-username", help="guest OS user (vm.process.get)")
    ap.add_argument("-P", "--guest-password", help="guest OS password (vm.process.get)")
    ap.add_argument("-H", "--helper", help="result helper, e.g. vpoller.helpers.zabbix")
    add_proxy_options(ap)
    ap.add_argument("-d", "--debug", action="store_true", help="log at debug level")
    ap.add_argument("-v", "--version", action="version", version=f"%(prog)s {VERSION}")
    return ap


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The wire request for the parsed options; absent options are left out."""
    request: dict[str, Any] = {"method": args.method, "hostname": args.vsphere_host}
    optional = {
        "name": args.name,
        "key": args.key,
        "counter-name": args.counter,
        "max-sample": args.max_sample,
        "instance": args.instance,
        "perf-interval": args.perf_interval,
        "username": args.guest_username,
        "password": args.guest_password,
        "helper": args.helper,
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    if args.properties is not None:
        request["properties"] = [p.strip() for p in args.properties.split(",") if p.strip()]
    return request


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.debug)
    try:
        client = Client(
            endpoints_of(args), timeout_ms=args.timeout, retries=args.retries, curve=curve_of(args)
        )
        reply = client.run(build_request(args))
    except VPollerError as exc:
        sys.stderr.write(f"vpoller-client: {exc}\n")
        return 2
    if isinstance(reply, str):
        sys.stdout.write(reply + "\n")
        return 0
    sys.stdout.write(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode() + "\n")
    status = reply.get("success", 1)
    return status if isinstance(status, int) and status in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
