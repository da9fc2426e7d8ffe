"""The inventory index and live mirror against the simulator (issue 6).

Direct tests drive a VSphereAgent in this process; tests that create, rename,
destroy or power off objects use a private simulator so the shared one stays
as the other tests expect it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyVim import connect as pyvim_connect
from pyVim import task as pyvim_task
from pyVmomi import vim

from vpoller.errors import VPollerError
from vpoller.registry import AgentRecord
from vpoller.request import Request
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack
from vpoller.vsphere import collector, inventory
from vpoller.vsphere.agent import VSphereAgent
from vpoller.vsphere.taskregistry import TASKS
from vpoller.vsphere.tasks import vm as _vm_tasks  # noqa: F401 -- registers vm.* tasks

READY_TIMEOUT_S = 30.0
VISIBLE_WITHIN_S = 5.0
MIRROR = {"vm": ("runtime.powerState", "summary.quickStats.overallCpuUsage")}
# untyped in pyVim / pyVmomi
WaitForTask: Any = pyvim_task.WaitForTask
Disconnect: Any = pyvim_connect.Disconnect
CloneSpec: Any = vim.vm.CloneSpec
RelocateSpec: Any = vim.vm.RelocateSpec


def _record(sim: Simulator) -> AgentRecord:
    return AgentRecord(
        host="127.0.0.1",
        user=sim.username,
        password=sim.password,
        port=sim.port,
        enabled=True,
        ca_file=sim.ca_file,
    )


@pytest.fixture
def make_agent() -> Iterator[Callable[..., VSphereAgent]]:
    made: list[VSphereAgent] = []

    def factory(sim: Simulator, **kwargs: Any) -> VSphereAgent:
        agent = VSphereAgent(_record(sim), connect_timeout_s=5.0, **kwargs)
        made.append(agent)
        return agent

    try:
        yield factory
    finally:
        for agent in made:
            agent.close()


@pytest.fixture
def private_sim() -> Iterator[Simulator]:
    with Simulator(vms=4) as simulator:
        yield simulator


@pytest.fixture
def private_si(private_sim: Simulator) -> Iterator[Any]:
    service = private_sim.connect()
    try:
        yield service
    finally:
        Disconnect(service)


def _ready_index(agent: VSphereAgent) -> inventory.Inventory:
    index = inventory.of(agent)
    assert index.wait_ready(READY_TIMEOUT_S), index.status()
    return index


def _run(agent: VSphereAgent, method: str, **keys: Any) -> dict[str, Any]:
    request = Request.from_object({"method": method, "hostname": agent.host, **keys})
    try:
        reply: dict[str, Any] = agent.execute(TASKS[method], request)
    except VPollerError as exc:  # as the dispatcher answers it
        return {"success": 1, "msg": str(exc)}
    return reply


def _all(si: Any, vim_type: type, paths: list[str]) -> dict[str, dict[str, Any]]:
    """``{moref: {path: value}}`` of every object of the type, read by plain pyVmomi."""
    content = si.RetrieveContent()
    found = collector.retrieve_all(content, vim_type, paths)
    return {obj.ref._moId: obj.props for obj in found}


def _eventually(check: Callable[[], bool], within_s: float = VISIBLE_WITHIN_S) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _vm(si: Any, name: str) -> Any:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next(vm for vm in view.view if vm.name == name)
    finally:
        view.DestroyView()


def _names(reply: dict[str, Any]) -> list[str]:
    return [row["name"] for row in reply.get("result", [])]


class _RoundTrips:
    """Counts SOAP calls made on the calling thread through the agent's stub."""

    def __init__(self, agent: VSphereAgent) -> None:
        self.stub = agent.si._GetStub()
        self.thread = threading.get_ident()
        self.calls: list[str] = []
        original = self.stub.InvokeMethod

        def counting(mo: Any, info: Any, args: Any) -> Any:
            if threading.get_ident() == self.thread:
                self.calls.append(info.wsdlName)
            return original(mo, info, args)

        self.stub.InvokeMethod = counting


# -- the index -------------------------------------------------------------------


def test_index_resolves_vm_names_like_pyvmomi(
    sim: Simulator, si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    index = _ready_index(make_agent(sim))
    expected = {
        props["name"]: moref for moref, props in _all(si, vim.VirtualMachine, ["name"]).items()
    }
    found = index.find("vm", ("name",), expected)
    assert {name: ref._moId for name, ref in found.items()} == expected


def test_index_resolves_vm_uuids_like_pyvmomi(
    sim: Simulator, si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    index = _ready_index(make_agent(sim))
    vms = _all(si, vim.VirtualMachine, ["config.uuid", "config.instanceUuid"])
    for moref, props in vms.items():
        for path in ("config.uuid", "config.instanceUuid"):
            found = index.find("vm", inventory.UUID_PATHS["vm"], [props[path]])
            assert found[props[path]]._moId == moref


def test_index_resolves_host_uuids_like_pyvmomi(
    sim: Simulator, si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    index = _ready_index(make_agent(sim))
    hosts = _all(si, vim.HostSystem, ["hardware.systemInfo.uuid"])
    uuids = {props["hardware.systemInfo.uuid"]: moref for moref, props in hosts.items()}
    found = index.find("host", inventory.UUID_PATHS["host"], uuids)
    assert {uuid: ref._moId for uuid, ref in found.items()} == uuids


def test_index_resolves_datastore_urls_like_pyvmomi(
    sim: Simulator, si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    index = _ready_index(make_agent(sim))
    stores = _all(si, vim.Datastore, ["info.url"])
    urls = {props["info.url"]: moref for moref, props in stores.items()}
    found = index.find("datastore", ("info.url", "name"), urls)
    assert {url: ref._moId for url, ref in found.items()} == urls


def test_index_holds_every_object_of_the_seven_types(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    index = _ready_index(make_agent(sim))
    assert index.status()["objects"] == sum(sim.expected_counts().by_vim_type().values())


def test_index_stops_when_the_agent_closes(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim)
    index = _ready_index(agent)
    agent.close()
    assert index.join(inventory.INVENTORY_WAIT_S + 5)
    assert not index.ready


def test_index_is_replaced_when_the_session_is_invalidated(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim)
    old = _ready_index(agent)
    agent.invalidate()
    assert old.join(inventory.INVENTORY_WAIT_S + 5)
    assert _ready_index(agent) is not old


# -- lookups cost one round trip ---------------------------------------------------


@pytest.mark.parametrize("vms", [3, 300])
def test_vm_get_by_name_costs_one_round_trip(
    vms: int, make_agent: Callable[..., VSphereAgent]
) -> None:
    with Simulator(vms=vms) as private:
        agent = make_agent(private)
        _ready_index(agent)
        name = _names(_run(agent, "vm.discover"))[-1]
        trips = _RoundTrips(agent)
        reply = _run(agent, "vm.get", name=name, properties=["runtime.powerState"])
        assert _names(reply) == [name]
        assert trips.calls == ["RetrievePropertiesEx"]


def test_vm_get_of_a_missing_name_scans_only_once(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim)
    _ready_index(agent)
    trips = _RoundTrips(agent)
    for _ in range(3):
        assert _run(agent, "vm.get", name="no-such-vm", properties=["name"])["success"] == 1
    assert trips.calls.count("RetrievePropertiesEx") == 1  # the scan; then remembered


# -- changes in vCenter ---------------------------------------------------------------


def test_vm_get_finds_a_created_vm(
    private_sim: Simulator, private_si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(private_sim)
    index = _ready_index(agent)
    source = _vm(private_si, _names(_run(agent, "vm.discover"))[0])
    WaitForTask(
        source.CloneVM_Task(
            folder=source.parent, name="vp-clone", spec=CloneSpec(location=RelocateSpec())
        )
    )
    assert _eventually(lambda: "vp-clone" in index.find("vm", ("name",), ["vp-clone"]))
    assert _names(_run(agent, "vm.get", name="vp-clone", properties=["name"])) == ["vp-clone"]


def test_vm_get_follows_a_rename(
    private_sim: Simulator, private_si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(private_sim)
    index = _ready_index(agent)
    old = _names(_run(agent, "vm.discover"))[0]
    WaitForTask(_vm(private_si, old).Rename_Task("vp-renamed"))
    assert _eventually(lambda: "vp-renamed" in index.find("vm", ("name",), ["vp-renamed"]))
    assert _names(_run(agent, "vm.get", name="vp-renamed", properties=["name"])) == ["vp-renamed"]
    assert _run(agent, "vm.get", name=old, properties=["name"])["success"] == 1


def test_vm_get_forgets_a_destroyed_vm(
    private_sim: Simulator, private_si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(private_sim)
    index = _ready_index(agent)
    name = _names(_run(agent, "vm.discover"))[0]
    vm = _vm(private_si, name)
    WaitForTask(vm.PowerOffVM_Task())
    WaitForTask(vm.Destroy_Task())
    assert _eventually(lambda: name not in index.find("vm", ("name",), [name]))
    reply = _run(agent, "vm.get", name=name, properties=["name"])
    assert reply == {"success": 1, "msg": f"Cannot find virtual machine '{name}'"}


# -- the mirror -------------------------------------------------------------------------


def test_mirror_answers_equal_live_values(
    sim: Simulator, si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim, mirror=MIRROR)
    _ready_index(agent)
    paths = list(MIRROR["vm"])
    trips = _RoundTrips(agent)
    reply = _run(agent, "vm.discover", properties=paths)
    assert trips.calls == []  # answered from memory
    live = {
        props["name"]: props for props in _all(si, vim.VirtualMachine, ["name", *paths]).values()
    }
    assert {row["name"]: row for row in reply["result"]} == {
        name: {"name": name, **{path: props.get(path) for path in paths}}
        for name, props in live.items()
    }


def test_mirror_follows_a_power_off(
    private_sim: Simulator, private_si: Any, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(private_sim, mirror=MIRROR)
    _ready_index(agent)
    name = _names(_run(agent, "vm.discover"))[0]
    WaitForTask(_vm(private_si, name).PowerOffVM_Task())

    def powered_off() -> bool:
        reply = _run(agent, "vm.get", name=name, properties=["runtime.powerState"])
        return bool(reply["result"][0]["runtime.powerState"] == "poweredOff")

    assert _eventually(powered_off)


def test_mirror_is_not_used_for_other_properties(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim, mirror=MIRROR)
    _ready_index(agent)
    name = _names(_run(agent, "vm.discover"))[0]
    trips = _RoundTrips(agent)
    reply = _run(agent, "vm.get", name=name, properties=["runtime.powerState", "config.guestId"])
    assert _names(reply) == [name]
    assert trips.calls == ["RetrievePropertiesEx"]


# -- paging ----------------------------------------------------------------------------------


def test_retrieve_all_with_small_pages_returns_every_object(sim: Simulator, si: Any) -> None:
    content = si.RetrieveContent()
    found = collector.retrieve_all(content, vim.VirtualMachine, ["name"], page_objects=2)
    assert sorted(obj.props["name"] for obj in found) == sorted(
        props["name"] for props in _all(si, vim.VirtualMachine, ["name"]).values()
    )


# -- status -------------------------------------------------------------------------------------


def test_worker_status_shows_the_mirror_age(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    mirrored = make_stack(sim, config_extra="\n[mirror]\nvm = runtime.powerState\n")
    reply = mirrored.request({"method": "vm.discover", "hostname": mirrored.agent})
    assert isinstance(reply, dict) and reply["success"] == 0, reply

    def mirror_age() -> Any:
        child = mirrored.worker_status()["result"]["children"][0]
        for agent in child["agents"]:
            inv = agent.get("inventory") or {}
            if inv.get("ready"):
                return inv
        return None

    assert _eventually(lambda: mirror_age() is not None, within_s=15)
    inv = mirror_age()
    assert inv["mirror"] == {"vm": ["runtime.powerState"]}
    assert 0 <= inv["age_s"] < 5


def _peek(agent: VSphereAgent, method: str, **keys: Any) -> dict[str, Any] | None:
    request = Request.from_object({"method": method, "hostname": agent.host, **keys})
    return agent.peek(TASKS[method], request)


def test_fast_path_vm_get_equals_normal_path(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim, mirror=MIRROR)
    _ready_index(agent)
    name = _names(_run(agent, "vm.discover"))[0]
    keys = {"name": name, "properties": list(MIRROR["vm"])}
    trips = _RoundTrips(agent)
    fast = _peek(agent, "vm.get", **keys)
    assert trips.calls == []
    assert fast is not None
    assert fast == _run(agent, "vm.get", **keys)


def test_fast_path_declines_unmirrored_properties(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim, mirror=MIRROR)
    _ready_index(agent)
    name = _names(_run(agent, "vm.discover"))[0]
    assert _peek(agent, "vm.get", name=name, properties=["config.guestId"]) is None


def test_fast_path_declines_without_session(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim, mirror=MIRROR)
    assert _peek(agent, "about") is None
    assert agent.status()["connected"] is False  # peeking never connects


def test_fast_path_about_equals_normal_path(
    sim: Simulator, make_agent: Callable[..., VSphereAgent]
) -> None:
    agent = make_agent(sim)
    normal = _run(agent, "about", properties=["fullName", "apiVersion"])
    assert _peek(agent, "about", properties=["fullName", "apiVersion"]) == normal
