"""Benchmark: throughput and latency against inventory size (issue 6). Not a test.

For each inventory size it starts govmomi's simulator, a proxy and a worker
manager with ``--processes`` children (``vpoller.testing.stack.Stack``, the
live mirror on for ``runtime.powerState`` of VMs), waits until every child's
inventory index is loaded, then drives a closed loop from ``--clients`` client
processes holding ``--concurrency`` requests in flight in total, for
``--duration`` seconds per scenario:

- ``about``: no vSphere round trip (the proxy/worker floor);
- ``vm.get``: a random VM by name, ``runtime.powerState`` and ``config.guestId``
  (not all mirrored: one RetrievePropertiesEx through the index);
- ``vm.get.mirror``: a random VM by name, ``runtime.powerState`` (from memory);
- ``host.perf.metric.get``: a random host, ``cpu.usage.percent.average``
  (skipped with a note where the method is unknown);
- ``vm.discover``: every VM's ``config.guestId`` (at most 2 in flight).

Prints one JSON document and a table, writes both and a PNG chart of latency
against inventory size to ``bench/results/`` and copies the chart to
``docs/bench-latency.png``. Everything runs on loopback.

    .venv/bin/python bench/bench.py                      # 100, 2000, 10000 VMs
    .venv/bin/python bench/bench.py --sizes 100,2000 --duration 3

10,000 VMs take about 30 s to start and 330 MB in the simulator.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import zmq

from vpoller.testing.load import decode_reply
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOCS_CHART = REPO / "docs" / "bench-latency.png"
DEFAULT_SIZES = (100, 2_000, 10_000)
READY_TIMEOUT_S = 180.0
REPLY_TIMEOUT_S = 30.0
DISCOVER_CONCURRENCY = 2
MIRROR_CONFIG = "\n[mirror]\nvm = runtime.powerState\n"
PERF_COUNTER = "cpu.usage.percent.average"
# Scenarios whose targets are throughput: measured at C and at --throughput-concurrency.
THROUGHPUT_SCENARIOS = ("about", "vm.get.mirror")
SCENARIOS = ("about", "vm.get", "vm.get.mirror", "host.perf.metric.get", "vm.discover")


@dataclass
class Result:
    """One scenario at one inventory size."""

    vms: int
    scenario: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


# -- client processes ------------------------------------------------------------


def closed_loop(
    endpoint: str, frames: list[bytes], window: int, duration_s: float
) -> tuple[list[float], int, float]:
    """Keep ``window`` requests in flight for ``duration_s``; (latencies ms, errors, seconds).

    Like :func:`vpoller.testing.load.send_many`, with a send time per request;
    requests cycle through ``frames``.
    """
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    errors = 0
    sent = 0
    began = time.perf_counter()
    stop_sending = began + duration_s
    hard_stop = stop_sending + REPLY_TIMEOUT_S
    try:
        while True:
            now = time.perf_counter()
            while len(sent_at) < window and now < stop_sending:
                sock.send_multipart([str(sent).encode(), b"", frames[sent % len(frames)]])
                sent_at[sent] = time.perf_counter()
                sent += 1
            if not sent_at or now > hard_stop:
                break
            if not sock.poll(100):
                continue
            while True:
                try:
                    parts = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                start = sent_at.pop(int(parts[0]), None)
                if start is None:
                    continue
                latencies.append((time.perf_counter() - start) * 1000)
                reply = decode_reply(parts[-1])
                if not isinstance(reply, dict) or reply.get("success") != 0:
                    errors += 1
        errors += len(sent_at)  # never answered
        return latencies, errors, time.perf_counter() - began
    finally:
        sock.close(0)
        ctx.term()


def _client(args: tuple[str, list[bytes], int, float]) -> tuple[list[float], int, float]:
    return closed_loop(*args)


# -- one size ----------------------------------------------------------------------


def _requests(scenario: str, agent: str, vms: list[str], hosts: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(scenario)
    if scenario == "about":
        return [{"method": "about", "hostname": agent}]
    if scenario == "vm.discover":
        return [{"method": "vm.discover", "hostname": agent, "properties": ["config.guestId"]}]
    if scenario == "host.perf.metric.get":
        return [
            {
                "method": "host.perf.metric.get",
                "hostname": agent,
                "name": rng.choice(hosts),
                "counter-name": PERF_COUNTER,
            }
            for _ in range(500)
        ]
    paths = (
        ["runtime.powerState"]
        if scenario == "vm.get.mirror"
        else [
            "runtime.powerState",
            "config.guestId",
        ]
    )
    return [
        {"method": "vm.get", "hostname": agent, "name": rng.choice(vms), "properties": paths}
        for _ in range(2_000)
    ]


def _wait_indexes(stack: Stack, processes: int, names: list[str]) -> None:
    """Send lookups until every child reports a loaded inventory index."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    probe = [
        {"method": "vm.get", "hostname": stack.agent, "name": n, "properties": ["name"]}
        for n in names[:50]
    ]
    frames = [orjson.dumps(r) for r in probe]
    while time.monotonic() < deadline:
        closed_loop(stack.frontend, frames, 4, 0.2)
        children = stack.worker_status()["result"]["children"]
        ready = [
            c
            for c in children
            if any((a.get("inventory") or {}).get("ready") for a in c.get("agents", []))
        ]
        if len(ready) >= processes:
            return
        time.sleep(0.5)
    raise SystemExit(f"inventory indexes not ready after {READY_TIMEOUT_S} s")


def run_size(vms: int, args: argparse.Namespace, pool: Any) -> list[Result]:
    results: list[Result] = []
    began = time.monotonic()
    with Simulator(vms=vms) as sim:
        print(f"# {vms} VMs: simulator up in {time.monotonic() - began:.1f} s", file=sys.stderr)
        workdir = Path(tempfile.mkdtemp(prefix="vpoller-bench-"))
        extra = f"agent_concurrency = {args.agent_concurrency}\n{MIRROR_CONFIG}"
        stack = Stack(sim, workdir, processes=args.processes, config_extra=extra)
        try:
            stack.start()
            agent = stack.agent
            vm_names = _names(stack, "vm.discover")
            host_names = _names(stack, "host.discover")
            _wait_indexes(stack, args.processes, vm_names)
            for scenario in SCENARIOS:
                reqs = _requests(scenario, agent, vm_names, host_names)
                first = stack.request(reqs[0], timeout_ms=int(REPLY_TIMEOUT_S * 1000))
                if isinstance(first, dict) and "Unknown method" in str(first.get("msg")):
                    print(f"# {scenario}: skipped ({first['msg']})", file=sys.stderr)
                    continue
                for concurrency in _concurrencies(scenario, args):
                    results.append(
                        _measure(
                            stack,
                            vms,
                            scenario=scenario,
                            reqs=reqs,
                            concurrency=concurrency,
                            args=args,
                            pool=pool,
                        )
                    )
                    print(f"# {_row(results[-1])}", file=sys.stderr)
        finally:
            stack.close()
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def _concurrencies(scenario: str, args: argparse.Namespace) -> list[int]:
    """Requests in flight for a scenario: C for all; also T for the throughput ones."""
    if scenario == "vm.discover":
        return [min(DISCOVER_CONCURRENCY, args.concurrency)]
    if scenario in THROUGHPUT_SCENARIOS and args.throughput_concurrency != args.concurrency:
        return [args.concurrency, args.throughput_concurrency]
    return [args.concurrency]


def _names(stack: Stack, method: str) -> list[str]:
    reply = stack.request(
        {"method": method, "hostname": stack.agent}, timeout_ms=int(REPLY_TIMEOUT_S * 1000)
    )
    if not isinstance(reply, dict) or reply.get("success") != 0:
        raise SystemExit(f"{method} failed: {reply}")
    return [row["name"] for row in reply["result"]]


def _measure(
    stack: Stack,
    vms: int,
    *,
    scenario: str,
    reqs: list[dict[str, Any]],
    concurrency: int,
    args: argparse.Namespace,
    pool: Any,
) -> Result:
    clients = max(1, min(args.clients, concurrency))
    frames = [orjson.dumps(r) for r in reqs]
    windows = [
        concurrency // clients + (1 if i < concurrency % clients else 0) for i in range(clients)
    ]
    jobs = [
        (stack.frontend, frames[i::clients] or frames, w, args.duration)
        for i, w in enumerate(windows)
    ]
    outs = pool.map(_client, jobs)
    latencies = sorted(lat for out in outs for lat in out[0])
    errors = sum(out[1] for out in outs)
    seconds = max(out[2] for out in outs)
    return Result(
        vms=vms,
        scenario=scenario,
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=round(seconds, 2),
        rps=round(len(latencies) / seconds, 1) if seconds else 0.0,
        p50_ms=round(statistics.median(latencies), 2) if latencies else 0.0,
        p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2)
        if latencies
        else 0.0,
    )


# -- output --------------------------------------------------------------------------


def _row(r: Result) -> str:
    return (
        f"{r.vms:>6} {r.scenario:<22} {r.concurrency:>4} {r.requests:>8} {r.errors:>6} "
        f"{r.rps:>9.1f} {r.p50_ms:>9.2f} {r.p99_ms:>9.2f}"
    )


def table(results: list[Result]) -> str:
    head = (
        f"{'VMs':>6} {'scenario':<22} {'conc':>4} {'requests':>8} {'errors':>6} "
        f"{'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}"
    )
    return "\n".join([head, "-" * len(head), *(_row(r) for r in results)])


def chart(results: list[Result], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 -- only the chart needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 5))
    for scenario, conc in sorted({(r.scenario, r.concurrency) for r in results}):
        rows = sorted(
            (r for r in results if (r.scenario, r.concurrency) == (scenario, conc)),
            key=lambda r: r.vms,
        )
        xs = [r.vms for r in rows]
        (line,) = ax.plot(
            xs, [r.p50_ms for r in rows], marker="o", label=f"{scenario} C={conc} p50"
        )
        ax.plot(
            xs,
            [r.p99_ms for r in rows],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{scenario} C={conc} p99",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("VMs in the inventory")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("vPoller latency against inventory size (closed loop, loopback)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="inventory sizes in VMs, comma-separated",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (C)")
    parser.add_argument(
        "--throughput-concurrency",
        type=int,
        default=32,
        help="requests in flight (T) for the throughput scenarios (about, vm.get.mirror)",
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--agent-concurrency", type=int, default=8, help="[worker] agent_concurrency"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: list[Result] = []
    for vms in sizes:
        # A fresh pool per size: nothing a previous size left behind skews the next.
        with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
            results.extend(run_size(vms, args, pool))
        gc.collect()
    doc = {
        "machine": {"cpus": multiprocessing.cpu_count()},
        "settings": {k: v for k, v in vars(args).items()},
        "results": [asdict(r) for r in results],
    }
    print(json.dumps(doc, indent=2))
    print(table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    (RESULTS / f"bench-{stamp}.txt").write_text(table(results) + "\n", encoding="utf-8")
    png = RESULTS / f"bench-{stamp}.png"
    chart(results, png)
    shutil.copy(png, DOCS_CHART)
    print(f"# wrote {png} and {DOCS_CHART}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
