"""``vpoller-client`` as users run it: options, output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import zmq

from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration


def client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpoller.cli.client", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_client_about_exits_zero_with_reply(stack: Stack) -> None:
    run = client("-e", stack.frontend, "-m", "about", "-V", stack.agent)
    assert run.returncode == 0, run.stderr
    reply = json.loads(run.stdout)
    assert reply["success"] == 0
    assert reply["result"][0]["fullName"].startswith("VMware")


def test_client_error_reply_exits_one(stack: Stack) -> None:
    run = client("-e", stack.frontend, "-m", "no.such", "-V", stack.agent)
    assert run.returncode == 1
    assert "Unknown method" in json.loads(run.stdout)["msg"]


def test_client_prints_non_ascii_name(stack: Stack) -> None:
    name = "Überwachung-ñ-✓"
    run = client(
        "-e",
        stack.frontend,
        "-m",
        "vm.get",
        "-V",
        stack.agent,
        "-n",
        name,
        "-p",
        "runtime.powerState",
    )
    assert run.returncode == 1
    assert name in run.stdout
    assert name in json.loads(run.stdout)["msg"]


def test_client_properties_option_is_comma_list(stack: Stack) -> None:
    run = client(
        "-e",
        stack.frontend,
        "-m",
        "vm.discover",
        "-V",
        stack.agent,
        "-p",
        "runtime.powerState,summary.config.numCpu",
    )
    assert run.returncode == 0, run.stderr
    first = json.loads(run.stdout)["result"][0]
    assert set(first) == {"name", "runtime.powerState", "summary.config.numCpu"}


def test_client_zabbix_helper_prints_bare_value(stack: Stack) -> None:
    discover = json.loads(
        client("-e", stack.frontend, "-m", "vm.discover", "-V", stack.agent).stdout
    )
    name = discover["result"][0]["name"]
    run = client(
        "-e",
        stack.frontend,
        "-m",
        "vm.get",
        "-V",
        stack.agent,
        "-n",
        name,
        "-p",
        "runtime.powerState",
        "-H",
        "vpoller.helpers.zabbix",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "poweredOn"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts requests and never answers."""
    silent = zmq.Context.instance().socket(zmq.ROUTER)
    silent.setsockopt(zmq.LINGER, 0)
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        silent.close(0)


def test_client_timeout_prints_no_response_reply(silent_endpoint: str) -> None:
    started = time.monotonic()
    run = client("-e", silent_endpoint, "-m", "about", "-V", "vc", "-t", "300", "-r", "2")
    elapsed = time.monotonic() - started
    assert run.returncode == 1
    assert json.loads(run.stdout) == {"success": 1, "msg": "Did not receive response, aborting..."}
    assert elapsed >= 0.6


def test_client_fails_over_to_second_endpoint(stack: Stack, silent_endpoint: str) -> None:
    run = client(
        "-e", silent_endpoint, "-e", stack.frontend, "-t", "500", "-r", "2",
        "-m", "about", "-V", stack.agent,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout
    assert json.loads(run.stdout)["success"] == 0


def test_client_requires_method_and_host() -> None:
    run = client("-m", "about")
    assert run.returncode == 2
    assert "-V/--vsphere-host" in run.stderr
