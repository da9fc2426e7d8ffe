"""The HTTP gateway (``vpoller-http``) against a real stack, with real HTTP requests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpoller.registry import Registry
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

VM = "DC0_H0_VM0"
START_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Gateway:
    """A ``vpoller-http`` process on an ephemeral port."""

    def __init__(self, workdir: Path, *args: str) -> None:
        port_file = workdir / "gateway.port"
        self.log = workdir / "gateway.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "vpoller.cli.http", "--listen", "127.0.0.1:0"),
                    *("--port-file", str(port_file), *args),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"vpoller-http did not start: {self.log.read_text()}")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{int(port_file.read_text())}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def call(self, path: str, body: bytes | None = None) -> tuple[int, str, str]:
        """(status, content type, body text) of a GET, or a POST when ``body`` is given."""
        request = urllib.request.Request(
            self.base + path, data=body, method="POST" if body else "GET"
        )
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                return (
                    response.status,
                    response.headers.get_content_type(),
                    response.read().decode(),
                )
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers.get_content_type(), exc.read().decode()

    def get(self, hostname: str, method: str, **query: str) -> tuple[int, str, str]:
        params = urllib.parse.urlencode({k.replace("_", "-"): v for k, v in query.items()})
        return self.call(f"/v1/{urllib.parse.quote(hostname)}/{method}?{params}")

    def post(self, request: dict[str, Any]) -> tuple[int, str, str]:
        return self.call("/v1/request", json.dumps(request).encode())


@pytest.fixture(scope="module")
def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("gateway"), "-e", stack.frontend, "-t", "8000", "-r", "1")
    try:
        yield gw
    finally:
        gw.close()


def test_gateway_post_returns_the_reply(gateway: Gateway, stack: Stack) -> None:
    status, kind, body = gateway.post({"method": "vm.discover", "hostname": stack.agent})
    reply = json.loads(body)
    assert (status, kind, reply["success"]) == (200, "application/json", 0)
    assert VM in {vm["name"] for vm in reply["result"]}


def test_gateway_post_accepts_null_keys(gateway: Gateway, stack: Stack) -> None:
    status, _, body = gateway.post(
        {"method": "about", "hostname": stack.agent, "name": None, "helper": None}
    )
    assert status == 200
    assert json.loads(body)["result"][0]["fullName"]


def test_gateway_get_returns_object_properties(gateway: Gateway, stack: Stack) -> None:
    status, _, body = gateway.get(
        stack.agent, "vm.get", name=VM, properties="runtime.powerState,config.uuid"
    )
    result = json.loads(body)["result"][0]
    assert status == 200
    assert result["runtime.powerState"] == "poweredOn"
    assert result["config.uuid"]


def test_gateway_get_with_zabbix_helper_returns_bare_text(gateway: Gateway, stack: Stack) -> None:
    status, kind, body = gateway.get(
        stack.agent,
        "vm.get",
        name=VM,
        properties="runtime.powerState",
        helper="vpoller.helpers.zabbix",
    )
    assert (status, kind, body) == (200, "text/plain", "poweredOn")


def test_gateway_discover_with_zabbix_helper_returns_lld_json(
    gateway: Gateway, stack: Stack
) -> None:
    status, kind, body = gateway.get(stack.agent, "vm.discover", helper="vpoller.helpers.zabbix")
    names = {row["{#VSPHERE.VM.NAME}"] for row in json.loads(body)["data"]}
    assert (status, kind) == (200, "application/json")
    assert VM in names


def test_gateway_healthz_answers_ok(gateway: Gateway) -> None:
    status, _, body = gateway.call("/healthz")
    assert (status, json.loads(body)["success"]) == (200, 0)


def test_gateway_malformed_json_is_400(gateway: Gateway) -> None:
    status, _, body = gateway.call("/v1/request", b'{"method": "about",')
    assert status == 400
    assert json.loads(body)["msg"].startswith("Request is not valid JSON")


def test_gateway_request_without_hostname_is_400(gateway: Gateway) -> None:
    status, _, body = gateway.post({"method": "about"})
    assert status == 400
    assert json.loads(body)["msg"] == "Missing required key 'hostname'"


def test_gateway_unknown_method_is_400(gateway: Gateway, stack: Stack) -> None:
    status, _, body = gateway.get(stack.agent, "vm.explode", name=VM)
    assert status == 400
    assert json.loads(body)["msg"] == "Unknown method 'vm.explode'"


def test_gateway_missing_required_key_is_400(gateway: Gateway, stack: Stack) -> None:
    status, _, body = gateway.get(stack.agent, "vm.get", name=VM)
    assert status == 400
    assert "'properties'" in json.loads(body)["msg"]


def test_gateway_unknown_query_parameter_is_400(gateway: Gateway, stack: Stack) -> None:
    status, _, body = gateway.get(stack.agent, "vm.get", name=VM, counter="cpu")
    assert status == 400
    assert "counter" in json.loads(body)["msg"]


def test_gateway_object_not_found_is_404(gateway: Gateway, stack: Stack) -> None:
    status, _, body = gateway.get(
        stack.agent, "vm.get", name="no-such-vm", properties="runtime.powerState"
    )
    reply = json.loads(body)
    assert (status, reply["success"]) == (404, 1)
    assert "no-such-vm" in reply["msg"]


def test_gateway_unknown_agent_is_404(gateway: Gateway) -> None:
    status, _, body = gateway.get("vc.unknown.example", "about")
    assert status == 404
    assert "vc.unknown.example" in json.loads(body)["msg"]


def test_gateway_unreachable_proxy_is_504(tmp_path: Path) -> None:
    gw = Gateway(tmp_path, "-e", f"tcp://127.0.0.1:{free_port()}", "-t", "300", "-r", "2")
    try:
        status, _, body = gw.get("vc01", "about")
    finally:
        gw.close()
    assert status == 504
    assert json.loads(body)["msg"] == "Did not receive response, aborting..."


def test_gateway_vsphere_failure_is_502(gateway: Gateway, stack: Stack) -> None:
    host = "unreachable.test"
    stack.register_agent(host=host, port=free_port())  # nothing listens there
    try:
        deadline = time.monotonic() + 20
        while host not in stack.proxy_status()["result"]["agents"]:
            assert time.monotonic() < deadline, "the worker did not pick up the agent"
            time.sleep(0.2)
        status, _, body = gateway.get(host, "about")
    finally:
        Registry(stack.db).remove(host)
    reply = json.loads(body)
    assert (status, reply["success"]) == (502, 1)
    assert host in reply["msg"]
