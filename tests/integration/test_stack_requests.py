"""Requests through real proxy and worker processes against the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from vpoller.registry import Registry
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

TYPES = {
    "datacenter": "datacenters",
    "cluster": "clusters",
    "resource.pool": "resource_pools",
    "host": "hosts",
    "vm": "vms",
    "datastore": "datastores",
    "net": "networks",
}


def ok(reply: dict[str, Any] | str) -> list[dict[str, Any]]:
    assert isinstance(reply, dict), reply
    assert reply["success"] == 0, reply
    result: list[dict[str, Any]] = reply["result"]
    return result


@pytest.mark.parametrize("otype", sorted(TYPES))
def test_discover_counts_match_simulator(stack: Stack, sim: Simulator, otype: str) -> None:
    result = ok(stack.request({"method": f"{otype}.discover", "hostname": stack.agent}))
    expected = getattr(sim.expected_counts(), TYPES[otype])
    assert len(result) == expected
    assert all("name" in item for item in result)


def test_about_full_name_matches_pyvmomi(stack: Stack, si: Any) -> None:
    result = ok(stack.request({"method": "about", "hostname": stack.agent}))
    assert result == [{"fullName": si.content.about.fullName}]


def test_vm_get_power_state_matches_pyvmomi(stack: Stack, si: Any) -> None:
    names = [
        v["name"] for v in ok(stack.request({"method": "vm.discover", "hostname": stack.agent}))
    ]
    reply = stack.request(
        {
            "method": "vm.get",
            "hostname": stack.agent,
            "name": names[0],
            "properties": ["runtime.powerState", "config.instanceUuid"],
        }
    )
    item = ok(reply)[0]
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [], True)
    try:
        vms = {o.name: o for o in view.view if o._wsdlName == "VirtualMachine"}
    finally:
        view.Destroy()
    assert item["name"] == names[0]
    assert item["runtime.powerState"] == vms[names[0]].runtime.powerState
    assert item["config.instanceUuid"] == vms[names[0]].config.instanceUuid


def test_vm_get_comma_separated_properties(stack: Stack) -> None:
    names = [
        v["name"] for v in ok(stack.request({"method": "vm.discover", "hostname": stack.agent}))
    ]
    item = ok(
        stack.request(
            {
                "method": "vm.get",
                "hostname": stack.agent,
                "name": names[-1],
                "properties": "runtime.powerState, summary.config.numCpu",
            }
        )
    )[0]
    assert set(item) == {"name", "runtime.powerState", "summary.config.numCpu"}
    assert isinstance(item["summary.config.numCpu"], int)


def test_null_keys_mean_absent(stack: Stack) -> None:
    request = {
        "method": "about",
        "hostname": stack.agent,
        "name": None,
        "properties": None,
        "key": None,
        "username": None,
        "password": None,
        "counter-name": None,
        "max-sample": None,
        "instance": None,
        "perf-interval": None,
        "helper": None,
    }
    assert ok(stack.request(request))[0]["fullName"].startswith("VMware")


def test_get_missing_object_names_it(stack: Stack) -> None:
    reply = stack.request(
        {
            "method": "vm.get",
            "hostname": stack.agent,
            "name": 'no "such" vm ✓',
            "properties": ["name"],
        }
    )
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert 'no "such" vm ✓' in reply["msg"]


def test_datastore_get_by_url_includes_url(stack: Stack) -> None:
    stores = ok(stack.request({"method": "datastore.discover", "hostname": stack.agent}))
    url = stores[0]["info.url"]
    item = ok(
        stack.request(
            {
                "method": "datastore.get",
                "hostname": stack.agent,
                "name": url,
                "properties": ["summary.capacity"],
            }
        )
    )[0]
    assert item["info.url"] == url
    assert item["name"] == stores[0]["name"]
    assert item["summary.capacity"] > 0


def test_proxy_status_counts_requests(stack: Stack) -> None:
    before = stack.proxy_status()["result"]["requests"]["served"]
    for _ in range(3):
        ok(stack.request({"method": "about", "hostname": stack.agent}))
    status = stack.proxy_status()["result"]
    assert status["requests"]["served"] == before + 3
    assert status["workers_alive"] == 2
    assert status["agents"] == [stack.agent]


def test_worker_status_describes_worker(stack: Stack) -> None:
    result = stack.worker_status()["result"]
    assert result["component"] == "vpoller-worker"
    assert result["concurrency"] == 2
    assert result["children_alive"] == 2
    assert result["agents"] == [stack.agent]
    assert "vm.get" in result["tasks"]
    assert "vpoller.helpers.zabbix" in result["helpers"]


def test_batch_get_returns_found_and_names_missing(stack: Stack) -> None:
    names = [
        v["name"] for v in ok(stack.request({"method": "vm.discover", "hostname": stack.agent}))
    ]
    reply = stack.request(
        {
            "method": "vm.get",
            "hostname": stack.agent,
            "name": [names[0], "no-such-vm", names[1]],
            "properties": ["runtime.powerState"],
        }
    )
    assert [row["name"] for row in ok(reply)] == [names[0], names[1]]
    assert isinstance(reply, dict)
    assert "not found: 'no-such-vm'" in reply["msg"]


def test_batch_relation_names_missing_source(stack: Stack) -> None:
    hosts = [
        h["name"] for h in ok(stack.request({"method": "host.discover", "hostname": stack.agent}))
    ]
    reply = stack.request(
        {"method": "host.vm.get", "hostname": stack.agent, "name": [hosts[0], "no-such-host"]}
    )
    assert [row["name"] for row in ok(reply)] == [hosts[0]]
    assert isinstance(reply, dict)
    assert "not found: 'no-such-host'" in reply["msg"]


def test_complete_batch_has_plain_message(stack: Stack) -> None:
    names = [
        v["name"] for v in ok(stack.request({"method": "vm.discover", "hostname": stack.agent}))
    ]
    reply = stack.request(
        {"method": "vm.get", "hostname": stack.agent, "name": names[:2], "properties": ["name"]}
    )
    assert len(ok(reply)) == 2
    assert isinstance(reply, dict)
    assert reply["msg"] == "Successfully retrieved object properties"


def _wait_for(predicate: Any, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_agent_enabled_at_runtime_is_served_then_disabled(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim)
    about = {"method": "about", "hostname": "localhost"}
    first = stack.request(about)
    assert isinstance(first, dict) and "No worker serves" in first["msg"]
    stack.register_agent(host="localhost")  # adds and enables it in the live registry
    assert _wait_for(lambda: ok_reply(stack.request(about)))
    Registry(stack.db).disable("localhost")
    assert _wait_for(lambda: "No worker serves" in str(stack.request(about)))
    assert ok_reply(stack.request({"method": "about", "hostname": stack.agent}))


def ok_reply(reply: dict[str, Any] | str) -> bool:
    return isinstance(reply, dict) and reply.get("success") == 0
