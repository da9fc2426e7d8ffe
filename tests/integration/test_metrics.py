"""Prometheus metrics of the proxy and the worker manager, scraped over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from vpoller.client import Client
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

PROCESSES = 2
WAIT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape by (name, labels)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(url: str, name: str, **labels: str) -> float:
    return scrape(url).get((name, frozenset(labels.items())), 0.0)


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "metric did not reach the expected value"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def metered(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        sim,
        tmp_path_factory.mktemp("metered"),
        processes=PROCESSES,
        proxy_extra=f"metrics_port = {free_port()}",
        config_extra=f"metrics_port = {free_port()}",
    )
    try:
        stack.start()
        stack.wait_ready(workers=PROCESSES)
        yield stack
    finally:
        stack.close()


def proxy_url(stack: Stack) -> str:
    return stack.endpoints["metrics"]


def worker_url(stack: Stack) -> str:
    endpoints = orjson.loads((stack.workdir / "worker0-endpoints.json").read_bytes())
    url: str = endpoints["metrics"]
    return url


def test_metrics_proxy_endpoint_answers(metered: Stack) -> None:
    samples = scrape(proxy_url(metered))
    assert (
        samples[("vpoller_build_info", frozenset({("component", "proxy"), ("version", "1.0.0")}))]
        == 1
    )


def test_metrics_proxy_requests_total_counts_each_request(metered: Stack) -> None:
    url = proxy_url(metered)
    labels = {"method": "about", "outcome": "success"}
    before = value(url, "vpoller_proxy_requests_total", **labels)
    for _ in range(7):
        reply = metered.request({"method": "about", "hostname": metered.agent})
        assert isinstance(reply, dict) and reply["success"] == 0
    assert value(url, "vpoller_proxy_requests_total", **labels) == before + 7


def test_metrics_proxy_error_replies_are_counted_as_errors(metered: Stack) -> None:
    url = proxy_url(metered)
    labels = {"method": "vm.get", "outcome": "error"}
    before = value(url, "vpoller_proxy_requests_total", **labels)
    request = {
        "method": "vm.get",
        "hostname": metered.agent,
        "name": "nope",
        "properties": ["name"],
    }
    for _ in range(3):
        metered.request(request)
    assert value(url, "vpoller_proxy_requests_total", **labels) == before + 3


def test_metrics_proxy_malformed_requests_are_counted_as_rejected(metered: Stack) -> None:
    url = proxy_url(metered)
    labels = {"method": "invalid", "outcome": "rejected"}
    before = value(url, "vpoller_proxy_requests_total", **labels)
    client = Client(metered.frontend, timeout_ms=5000, retries=1)
    for frame in (b"not json", b"[1, 2]"):
        assert client.send_frame(frame) is not None
    assert value(url, "vpoller_proxy_requests_total", **labels) == before + 2


def test_metrics_proxy_latency_histogram_observes_each_request(metered: Stack) -> None:
    url = proxy_url(metered)
    name = "vpoller_proxy_request_duration_seconds_count"
    before = value(url, name, method="vm.discover")
    for _ in range(4):
        metered.request({"method": "vm.discover", "hostname": metered.agent})
    assert value(url, name, method="vm.discover") == before + 4


def test_metrics_proxy_workers_gauge_counts_live_workers(metered: Stack) -> None:
    assert value(proxy_url(metered), "vpoller_proxy_workers") == PROCESSES


def test_metrics_worker_processes_alive(metered: Stack) -> None:
    url = worker_url(metered)
    wait_for(lambda: value(url, "vpoller_worker_processes_alive") == PROCESSES)


def test_metrics_worker_agent_sessions_appear_after_requests(metered: Stack) -> None:
    url = worker_url(metered)
    for _ in range(PROCESSES * 2):
        metered.request({"method": "about", "hostname": metered.agent})
    wait_for(lambda: value(url, "vpoller_worker_agent_sessions", agent=metered.agent) >= 1)


def test_metrics_worker_restart_is_counted(metered: Stack) -> None:
    url = worker_url(metered)
    before = value(url, "vpoller_worker_process_restarts_total")
    child = metered.worker_status()["result"]["children"][0]["pid"]
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: value(url, "vpoller_worker_process_restarts_total") == before + 1)
    wait_for(lambda: value(url, "vpoller_worker_processes_alive") == PROCESSES)
