"""Starting and stopping the real programs: nothing is left running, nothing hangs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from vpoller.client import Client
from vpoller.testing.procs import wait_gone
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

STOP_WAIT_S = 15.0


def child_pids(stack: Stack) -> list[int]:
    children = stack.worker_status()["result"]["children"]
    return [c["pid"] for c in children if c["pid"]]


def cli(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"vpoller.cli.{name}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_proxy_stop_command_ends_proxy(sim: Simulator, make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(sim)
    assert stack.proxy is not None
    run = cli("proxy", "-e", stack.endpoints["mgmt"], "stop")
    assert run.returncode == 0, run.stderr
    assert stack.proxy.wait(STOP_WAIT_S) == 0


def test_proxy_status_command_prints_status(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim)
    run = cli("proxy", "-e", stack.endpoints["mgmt"], "status")
    assert run.returncode == 0, run.stderr
    assert '"workers_alive": 1' in run.stdout


def test_worker_stop_command_ends_manager_and_children(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, processes=2)
    pids = child_pids(stack)
    assert len(pids) == 2
    run = cli("worker", "-e", stack.worker_mgmt[0], "stop")
    assert run.returncode == 0, run.stderr
    assert stack.workers[0].wait(STOP_WAIT_S) == 0
    assert wait_gone(pids, STOP_WAIT_S) == []


def test_worker_sigterm_leaves_no_child(sim: Simulator, make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(sim, processes=2)
    pids = child_pids(stack)
    os.kill(stack.workers[0].pid, signal.SIGTERM)  # the manager only, not its group
    assert stack.workers[0].wait(STOP_WAIT_S) == 0
    assert wait_gone(pids, STOP_WAIT_S) == []


def test_worker_children_exit_when_manager_is_killed(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, processes=2)
    pids = child_pids(stack)
    os.kill(stack.workers[0].pid, signal.SIGKILL)
    stack.workers[0].wait(STOP_WAIT_S)
    assert wait_gone(pids, STOP_WAIT_S) == []


def test_proxy_sigterm_answers_waiting_requests(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, start=False)
    stack.register_agent()
    stack.start_proxy()  # no worker: the request waits in the queue
    replies: list[dict[str, Any] | str] = []
    client = Client(stack.frontend, timeout_ms=8000, retries=1)
    thread = threading.Thread(
        target=lambda: replies.append(client.run({"method": "about", "hostname": stack.agent}))
    )
    thread.start()
    time.sleep(0.5)
    assert stack.proxy is not None
    stack.proxy.send_signal(signal.SIGTERM)
    thread.join(10)
    assert stack.proxy.wait(STOP_WAIT_S) == 0
    assert replies and isinstance(replies[0], dict)
    assert replies[0]["success"] == 1
    assert "shutting down" in replies[0]["msg"]


def test_request_without_worker_times_out_with_error(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, start=False)
    stack.register_agent()
    stack.start_proxy()
    started = time.monotonic()
    reply = Client(stack.frontend, timeout_ms=1500, retries=1).run(
        {"method": "about", "hostname": stack.agent}
    )
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert "timed out waiting for a worker" in reply["msg"]
    assert time.monotonic() - started < 3


def test_queued_request_is_served_when_worker_arrives(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, start=False)
    stack.register_agent()
    stack.start_proxy()
    replies: list[dict[str, Any] | str] = []
    client = Client(stack.frontend, timeout_ms=20_000, retries=1)
    thread = threading.Thread(
        target=lambda: replies.append(client.run({"method": "about", "hostname": stack.agent}))
    )
    thread.start()
    stack.start_worker()
    thread.join(25)
    assert replies and isinstance(replies[0], dict)
    assert replies[0]["success"] == 0, replies


HARNESS = """
import json, sys, tempfile, time
from pathlib import Path
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack
sim = Simulator(vms=2)
sim.start()
stack = Stack(sim, Path(tempfile.mkdtemp()))
stack.start()
kids = [c["pid"] for c in stack.worker_status()["result"]["children"]]
print(json.dumps([sim.pid, stack.proxy.pid, stack.workers[0].pid, *kids]), flush=True)
time.sleep(120)
"""


def test_killed_test_process_leaves_no_daemon_behind() -> None:
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        assert harness.stdout is not None
        pids = json.loads(harness.stdout.readline())
        assert len(pids) == 4
    finally:
        harness.kill()
        harness.wait(10)
        if harness.stdout is not None:
            harness.stdout.close()
    assert wait_gone(pids, STOP_WAIT_S) == []
