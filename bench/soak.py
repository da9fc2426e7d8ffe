"""Soak run: a mixed load for a given number of requests, with memory per process.

Starts a simulator, a proxy and a worker (real processes), sends a mix of
valid and malformed requests in bounded batches, and prints the resident
memory of every process at the start and at the end, so growth is visible.

    .venv/bin/python bench/soak.py --requests 20000 --vms 200
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from vpoller.testing.load import send_many
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

BATCH = 200


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def processes(stack: Stack) -> dict[str, int]:
    pids = {"simulator": stack.sim.pid or 0}
    if stack.proxy is not None:
        pids["proxy"] = stack.proxy.pid
    pids["worker-manager"] = stack.workers[0].pid
    for child in stack.worker_status()["result"]["children"]:
        pids[f"worker-{child['index']}"] = child["pid"] or 0
    return pids


def mix(stack: Stack, names: list[str], rng: random.Random) -> list[dict[str, object] | bytes]:
    agent = stack.agent
    choices: list[dict[str, object] | bytes] = [
        {"method": "about", "hostname": agent},
        {
            "method": "vm.get",
            "hostname": agent,
            "name": rng.choice(names),
            "properties": ["runtime.powerState"],
        },
        {"method": "host.discover", "hostname": agent},
        {"method": "vm.get", "hostname": agent, "name": "missing", "properties": ["name"]},
        {"method": "no.such.method", "hostname": agent},
        b"{broken json",
        b"[]",
    ]
    return [rng.choice(choices) for _ in range(BATCH)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--vms", type=int, default=200)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    rng = random.Random(7)
    with Simulator(vms=args.vms) as sim, tempfile.TemporaryDirectory() as tmp:
        stack = Stack(sim, Path(tmp), processes=args.processes)
        try:
            stack.start()
            stack.wait_ready(workers=args.processes)
            discover = stack.request({"method": "vm.discover", "hostname": stack.agent})
            assert isinstance(discover, dict)
            names = [vm["name"] for vm in discover["result"]]
            pids = processes(stack)
            before = {name: rss_kib(pid) for name, pid in pids.items()}
            sent = answered = ok = 0
            started = time.monotonic()
            while sent < args.requests:
                replies = send_many(stack.frontend, mix(stack, names, rng), timeout_s=60, window=32)
                sent += len(replies)
                answered += sum(r is not None for r in replies)
                ok += sum(isinstance(r, dict) and r.get("success") == 0 for r in replies)
            elapsed = time.monotonic() - started
            after = {name: rss_kib(pid) for name, pid in pids.items()}
        finally:
            stack.close()
    print(
        f"requests sent {sent}, answered {answered}, succeeded {ok}, "
        f"in {elapsed:.1f} s ({sent / elapsed:.0f}/s)"
    )
    print(f"{'process':<16}{'RSS start KiB':>15}{'RSS end KiB':>15}{'growth KiB':>12}")
    for name in pids:
        print(f"{name:<16}{before[name]:>15}{after[name]:>15}{after[name] - before[name]:>12}")
    return 0 if answered == sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
