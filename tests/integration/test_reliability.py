"""Reliability: no request lost or hung when workers, vCenters or proxies misbehave."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vpoller.client import Client
from vpoller.testing.load import send_many
from vpoller.testing.procs import alive, wait_gone
from vpoller.testing.relay import Relay
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration


def succeeded(reply: dict[str, Any] | str | None) -> bool:
    return isinstance(reply, dict) and reply.get("success") == 0


@pytest.fixture
def own_sim() -> Iterator[Simulator]:
    with Simulator(vms=8) as simulator:
        yield simulator


def test_killed_worker_process_loses_no_request(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, processes=2)
    stack.wait_ready(workers=2)
    children = [c["pid"] for c in stack.worker_status()["result"]["children"]]
    requests = [
        {"method": "vm.discover", "hostname": stack.agent, "properties": ["runtime.powerState"]}
        for _ in range(200)
    ]
    killer = threading.Timer(0.05, os.kill, (children[0], signal.SIGKILL))
    killer.start()
    replies = send_many(stack.frontend, requests, timeout_s=60)
    killer.join()
    assert all(r is not None for r in replies), "a request got no reply"
    assert sum(succeeded(r) for r in replies) == 200
    assert not alive(children[0])


def test_killed_worker_process_is_restarted(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, processes=2)
    victim = stack.worker_status()["result"]["children"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = stack.worker_status()["result"]
        if status["restarts"] == 1 and status["children_alive"] == 2:
            break
        time.sleep(0.2)
    assert status["restarts"] == 1
    assert status["children_alive"] == 2
    assert victim not in [c["pid"] for c in status["children"]]
    assert status["children"][0]["exit_codes"] == [-signal.SIGKILL]


def test_proxy_drops_worker_that_stops_heartbeating(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, processes=2)
    stack.wait_ready(workers=2)
    child = stack.worker_status()["result"]["children"][0]["pid"]
    os.kill(child, signal.SIGSTOP)  # hung, not dead: its socket stays open
    try:
        started = time.monotonic()
        while time.monotonic() - started < 10:
            pids = [w["pid"] for w in stack.proxy_status()["result"]["workers"]]
            if child not in pids:
                break
            time.sleep(0.1)
        assert child not in pids
        assert time.monotonic() - started <= 3.5
        replies = send_many(
            stack.frontend, [{"method": "about", "hostname": stack.agent}] * 20, timeout_s=20
        )
        assert all(succeeded(r) for r in replies)
    finally:
        os.kill(child, signal.SIGCONT)


def test_simulator_restart_heals_without_restarting_vpoller(
    own_sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(own_sim)
    request = {"method": "vm.discover", "hostname": stack.agent}
    assert succeeded(stack.request(request))
    worker_pid = stack.workers[0].pid
    own_sim.restart()
    deadline = time.monotonic() + 15
    reply: dict[str, Any] | str = ""
    while time.monotonic() < deadline:
        reply = stack.request(request, timeout_ms=5000)
        if succeeded(reply):
            break
        time.sleep(0.2)
    assert succeeded(reply), reply
    assert stack.workers[0].pid == worker_pid and stack.workers[0].poll() is None


def test_unreachable_agent_fails_fast_while_other_agent_works(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts, never speaks
    try:
        stack = make_stack(sim, start=False)
        stack.register_agent(host="localhost", port=silent.getsockname()[1])
        stack.start()
        dead = [{"method": "about", "hostname": "localhost"}] * 4
        live = [{"method": "about", "hostname": stack.agent}] * 40
        started = time.monotonic()
        replies = send_many(stack.frontend, dead + live, timeout_s=15)
        for reply in replies[:4]:
            assert isinstance(reply, dict) and reply["success"] == 1
            assert "localhost" in reply["msg"] or "timed out" in reply["msg"], reply
        assert all(succeeded(r) for r in replies[4:])
        assert time.monotonic() - started < 10
    finally:
        silent.close()


def test_hung_vcenter_call_times_out_and_session_is_rebuilt(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    relay = Relay(sim.host, sim.port)
    try:
        stack = make_stack(sim, start=False, agent="localhost")
        stack.register_agent(host="localhost", port=relay.port)
        stack.start_proxy()
        stack.start_worker()
        stack.wait_ready()
        assert succeeded(stack.request({"method": "about", "hostname": "localhost"}))
        relay.freeze()
        started = time.monotonic()
        reply = Client(stack.frontend, timeout_ms=2500, retries=1).run(
            {"method": "vm.discover", "hostname": "localhost"}
        )
        assert isinstance(reply, dict) and reply["success"] == 1
        assert "timed out" in reply["msg"]
        assert time.monotonic() - started < 2.5
        relay.thaw()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            reply = stack.request(
                {"method": "vm.discover", "hostname": "localhost"}, timeout_ms=5000
            )
            if succeeded(reply):
                break
        assert succeeded(reply), reply
    finally:
        relay.close()


def test_proxy_restart_workers_reregister_and_clients_retry(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim)
    frontend, backend = stack.frontend, stack.endpoints["backend"]
    assert stack.proxy is not None
    stack.proxy.kill()
    stack.proxy.wait(10)
    stack.start_proxy(backend=backend, frontend=frontend)
    reply = Client(frontend, timeout_ms=2000, retries=8).run(
        {"method": "about", "hostname": stack.agent}
    )
    assert succeeded(reply), reply


def test_two_proxies_losing_one_loses_no_request(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, start=False)
    stack.register_agent()
    stack.start_proxy()
    second = stack.start_extra_proxy()
    stack.start_worker()
    stack.wait_ready()
    client = Client([stack.frontend, second["frontend"]], timeout_ms=1500, retries=4)
    assert succeeded(client.run({"method": "about", "hostname": stack.agent}))
    assert stack.proxy is not None
    stack.proxy.kill()
    stack.proxy.wait(10)
    replies = [client.run({"method": "about", "hostname": stack.agent}) for _ in range(5)]
    assert all(succeeded(r) for r in replies), replies


def test_sigterm_under_load_answers_every_request(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, processes=2)
    assert stack.proxy is not None
    pids = [c["pid"] for c in stack.worker_status()["result"]["children"]]
    pids += [stack.workers[0].pid, stack.proxy.pid]
    requests = [{"method": "vm.discover", "hostname": stack.agent}] * 150

    def terminate() -> None:
        os.kill(stack.workers[0].pid, signal.SIGTERM)
        time.sleep(0.3)
        assert stack.proxy is not None
        stack.proxy.send_signal(signal.SIGTERM)

    stopper = threading.Timer(0.1, terminate)
    stopper.start()
    replies = send_many(stack.frontend, requests, timeout_s=30)
    stopper.join()
    assert all(isinstance(r, dict) for r in replies), "a request got no reply"
    for reply in replies:
        assert isinstance(reply, dict)
        assert reply["success"] == 0 or "shutting down" in reply["msg"], reply
    assert wait_gone(pids, 15) == []
