"""The vSphere layer against govmomi's simulator: VSphereAgent sessions and the core tasks.

Tasks run directly (no proxy or worker); expected values come from the
simulator's topology or from plain pyVmomi reads of the same simulator.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

import vpoller.vsphere.tasks  # noqa: F401 -- registers the task methods
from vpoller.errors import ObjectNotFoundError, VSphereError
from vpoller.registry import AgentRecord
from vpoller.request import Reply, Request
from vpoller.testing.simulator import Simulator, write_certificate
from vpoller.vsphere.agent import VSPHERE_CONNECT_HOLDOFF_S, VSphereAgent
from vpoller.vsphere.taskregistry import TASKS, Task

pytestmark = pytest.mark.integration

TYPES = {
    "datacenter": ("datacenters", vim.Datacenter),
    "cluster": ("clusters", vim.ClusterComputeResource),
    "resource.pool": ("resource_pools", vim.ResourcePool),
    "host": ("hosts", vim.HostSystem),
    "vm": ("vms", vim.VirtualMachine),
    "datastore": ("datastores", vim.Datastore),
    "net": ("networks", vim.Network),
}


def _record(sim: Simulator, **overrides: Any) -> AgentRecord:
    fields: dict[str, Any] = {
        "host": sim.host,
        "user": sim.username,
        "password": sim.password,
        "port": sim.port,
        "enabled": True,
        "ca_file": sim.ca_file,
    }
    fields.update(overrides)
    return AgentRecord(**fields)


@pytest.fixture
def make_agent(sim: Simulator) -> Iterator[Callable[..., VSphereAgent]]:
    """Build agents for ``sim`` (record fields overridable); all closed after the test."""
    made: list[VSphereAgent] = []

    def factory(*, connect_timeout_s: float = 5.0, concurrency: int = 4, **fields: Any) -> Any:
        agent = VSphereAgent(
            _record(sim, **fields), connect_timeout_s=connect_timeout_s, concurrency=concurrency
        )
        made.append(agent)
        return agent

    try:
        yield factory
    finally:
        for agent in made:
            agent.close()


@pytest.fixture
def agent(make_agent: Callable[..., VSphereAgent]) -> VSphereAgent:
    return make_agent()


@pytest.fixture(scope="module")
def si(sim: Simulator) -> Iterator[Any]:
    """A plain pyVmomi session on the simulator, the reference for expected values."""
    service = sim.connect()
    try:
        yield service
    finally:
        Disconnect(service)


def _objects(si: Any, vim_type: type) -> list[Any]:
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim_type], True)
    try:
        return list(view.view)
    finally:
        view.DestroyView()


def run(agent: VSphereAgent, method: str, **keys: Any) -> Reply:
    request = Request(method=method, hostname=agent.host, **keys)
    return agent.execute(TASKS[method], request)


# -- tasks --------------------------------------------------------------------


@pytest.mark.parametrize("otype", list(TYPES))
def test_discover_returns_every_object_of_the_type(
    agent: VSphereAgent, sim: Simulator, otype: str
) -> None:
    counts = sim.expected_counts()
    reply = run(agent, f"{otype}.discover")
    assert reply["success"] == 0
    assert len(reply["result"]) == getattr(counts, TYPES[otype][0])


@pytest.mark.parametrize("otype", list(TYPES))
def test_discover_names_match_pyvmomi(agent: VSphereAgent, si: Any, otype: str) -> None:
    expected = sorted(obj.name for obj in _objects(si, TYPES[otype][1]))
    reply = run(agent, f"{otype}.discover")
    assert sorted(row["name"] for row in reply["result"]) == expected


def test_vm_discover_returns_requested_properties(agent: VSphereAgent, si: Any) -> None:
    expected = {vm.name: vm.runtime.powerState for vm in _objects(si, vim.VirtualMachine)}
    reply = run(agent, "vm.discover", properties=("runtime.powerState",))
    assert {row["name"]: row["runtime.powerState"] for row in reply["result"]} == expected


def test_datastore_discover_always_includes_url(agent: VSphereAgent, si: Any) -> None:
    expected = {ds.name: ds.info.url for ds in _objects(si, vim.Datastore)}
    reply = run(agent, "datastore.discover")
    assert {row["name"]: row["info.url"] for row in reply["result"]} == expected


def test_discover_unknown_property_is_null(agent: VSphereAgent) -> None:
    reply = run(agent, "host.discover", properties=("no.such.property",))
    assert reply["success"] == 0
    assert all(row["no.such.property"] is None for row in reply["result"])


def test_vm_get_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    vm = _objects(si, vim.VirtualMachine)[0]
    props = ("runtime.powerState", "config.uuid", "summary.config.numCpu", "runtime.host")
    reply = run(agent, "vm.get", name=vm.name, properties=props)
    assert reply["result"] == [
        {
            "name": vm.name,
            "runtime.powerState": vm.runtime.powerState,
            "config.uuid": vm.config.uuid,
            "summary.config.numCpu": vm.summary.config.numCpu,
            "runtime.host": vm.runtime.host._moId,
        }
    ]


def test_host_get_serialises_data_object(agent: VSphereAgent, si: Any) -> None:
    host = _objects(si, vim.HostSystem)[0]
    reply = run(agent, "host.get", name=host.name, properties=("summary.hardware",))
    hardware = reply["result"][0]["summary.hardware"]
    assert hardware["numCpuCores"] == host.summary.hardware.numCpuCores
    assert hardware["memorySize"] == host.summary.hardware.memorySize


def test_host_get_boot_time_is_iso8601(agent: VSphereAgent, si: Any) -> None:
    host = _objects(si, vim.HostSystem)[0]
    reply = run(agent, "host.get", name=host.name, properties=("runtime.bootTime",))
    assert reply["result"][0]["runtime.bootTime"] == host.runtime.bootTime.isoformat()


def test_datastore_get_by_url(agent: VSphereAgent, si: Any) -> None:
    ds = _objects(si, vim.Datastore)[0]
    reply = run(agent, "datastore.get", name=ds.info.url, properties=("summary.capacity",))
    assert reply["result"] == [
        {"name": ds.name, "info.url": ds.info.url, "summary.capacity": ds.summary.capacity}
    ]


def test_datastore_get_by_name(agent: VSphereAgent, si: Any) -> None:
    ds = _objects(si, vim.Datastore)[0]
    reply = run(agent, "datastore.get", name=ds.name, properties=("summary.type",))
    assert reply["result"][0]["info.url"] == ds.info.url


def test_net_get_without_properties_returns_name(agent: VSphereAgent) -> None:
    reply = run(agent, "net.get", name="VM Network")
    assert reply["result"] == [{"name": "VM Network"}]


def test_get_unknown_name_raises_not_found_naming_it(agent: VSphereAgent) -> None:
    with pytest.raises(ObjectNotFoundError, match="'no-such-vm'"):
        run(agent, "vm.get", name="no-such-vm", properties=("name",))


def test_vm_get_by_moref(agent: VSphereAgent, si: Any) -> None:
    vm = _objects(si, vim.VirtualMachine)[0]
    reply = run(agent, "vm.get", moref=vm._moId, properties=("name",))
    assert reply["result"] == [{"name": vm.name}]


def test_vm_get_by_uuid(agent: VSphereAgent, si: Any) -> None:
    vm = _objects(si, vim.VirtualMachine)[0]
    reply = run(agent, "vm.get", uuid=vm.config.uuid, properties=("name",))
    assert reply["result"] == [{"name": vm.name}]


def test_vm_get_unknown_moref_raises_not_found(agent: VSphereAgent) -> None:
    with pytest.raises(ObjectNotFoundError, match="vm-999999"):
        run(agent, "vm.get", moref="vm-999999", properties=("name",))


def test_about_default_property_is_full_name(agent: VSphereAgent, si: Any) -> None:
    reply = run(agent, "about")
    assert reply["result"] == [{"fullName": si.content.about.fullName}]


def test_about_returns_requested_attributes(agent: VSphereAgent, si: Any) -> None:
    reply = run(agent, "about", properties=("apiVersion", "instanceUuid", "noSuchField"))
    about = si.content.about
    assert reply["result"] == [
        {"apiVersion": about.apiVersion, "instanceUuid": about.instanceUuid, "noSuchField": None}
    ]


# -- sessions, TLS and connections -------------------------------------------


def test_agent_verifies_certificate_with_ca_file(agent: VSphereAgent) -> None:
    run(agent, "about")
    assert agent.status()["connected"] is True


def test_agent_refuses_certificate_of_wrong_ca(
    make_agent: Callable[..., VSphereAgent], tmp_path: Path
) -> None:
    other_ca, _ = write_certificate(tmp_path)
    agent = make_agent(ca_file=str(other_ca))
    with pytest.raises(VSphereError, match=r"certificate.*--ca-file.*--insecure"):
        run(agent, "about")


def test_agent_refuses_self_signed_certificate_without_ca_file(
    make_agent: Callable[..., VSphereAgent],
) -> None:
    agent = make_agent(ca_file=None)
    with pytest.raises(VSphereError, match="self-signed certificate"):
        run(agent, "about")


def test_agent_insecure_connects_without_ca_file(
    make_agent: Callable[..., VSphereAgent], si: Any
) -> None:
    agent = make_agent(ca_file=None, insecure=True)
    assert run(agent, "about")["result"] == [{"fullName": si.content.about.fullName}]


def test_agent_wrong_password_reports_invalid_login(
    make_agent: Callable[..., VSphereAgent],
) -> None:
    agent = make_agent(password="wrong")
    with pytest.raises(VSphereError, match="InvalidLogin"):
        run(agent, "about")


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_agent_closed_port_fails_fast(make_agent: Callable[..., VSphereAgent]) -> None:
    agent = make_agent(port=_unused_port())
    began = time.monotonic()
    with pytest.raises(VSphereError, match=r"Cannot connect to .*refused"):
        run(agent, "about")
    assert time.monotonic() - began < 2.0


def test_agent_silent_server_fails_within_connect_timeout(
    make_agent: Callable[..., VSphereAgent],
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # accepted by the kernel, never answered
        agent = make_agent(port=server.getsockname()[1], connect_timeout_s=0.5)
        began = time.monotonic()
        with pytest.raises(VSphereError, match=r"no answer within 0\.5s"):
            run(agent, "about")
        assert time.monotonic() - began < 3.0


def test_agent_heals_terminated_session(agent: VSphereAgent, si: Any) -> None:
    run(agent, "about")
    own = agent.content.sessionManager.currentSession.key
    si.content.sessionManager.TerminateSession([own])
    reply = run(agent, "vm.discover")
    assert reply["success"] == 0
    assert agent.status()["reconnects"] == 1


def test_agent_invalidate_opens_new_session(agent: VSphereAgent) -> None:
    first = agent.content.sessionManager.currentSession.key
    agent.invalidate()
    assert agent.content.sessionManager.currentSession.key != first


def test_agent_cache_is_cleared_on_reconnect(agent: VSphereAgent) -> None:
    agent.cache["perf"] = 1
    agent.invalidate()
    assert "perf" not in agent.cache


def test_agent_close_logs_session_out(agent: VSphereAgent, si: Any) -> None:
    key = agent.content.sessionManager.currentSession.key
    agent.close()
    assert key not in {s.key for s in si.content.sessionManager.sessionList}


def test_execute_translates_fault_to_vsphere_error(agent: VSphereAgent) -> None:
    def read_missing(agent: VSphereAgent, request: Request) -> Reply:
        stub = agent.si._GetStub()
        return {"success": 0, "result": vim.VirtualMachine("vm-999999", stub).name}

    failing = Task("test.fault", read_missing, ())
    with pytest.raises(VSphereError, match=r"^ManagedObjectNotFound: ") as caught:
        agent.execute(failing, Request(method="test.fault", hostname=agent.host))
    assert "\n" not in str(caught.value)


def test_execute_runs_concurrent_calls_within_slots(
    make_agent: Callable[..., VSphereAgent], sim: Simulator
) -> None:
    agent = make_agent(concurrency=2)
    active = 0
    peak = 0
    lock = threading.Lock()

    def counted(agent: VSphereAgent, request: Request) -> Reply:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return TASKS["vm.discover"](agent, request)
        finally:
            with lock:
                active -= 1

    task = Task("test.counted", counted, ())
    request = Request(method="test.counted", hostname=agent.host)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: agent.execute(task, request), range(16)))
    assert all(len(r["result"]) == sim.expected_counts().vms for r in replies)
    assert peak <= 2


def test_status_reports_connection(agent: VSphereAgent, sim: Simulator) -> None:
    run(agent, "about")
    status = agent.status()
    assert (status["host"], status["port"], status["connected"]) == (sim.host, sim.port, True)
    assert status["last_error"] is None


def test_ssl_default_context_is_verifying() -> None:
    # Guards the assumption the agent's "verify by default" relies on.
    assert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED


def test_agent_recovers_after_vcenter_restart() -> None:
    with Simulator(vms=2) as private:
        agent = VSphereAgent(_record(private), connect_timeout_s=5.0)
        try:
            run(agent, "about")
            private.restart()  # same port and certificate, all sessions gone
            reply = run(agent, "vm.discover")
            assert len(reply["result"]) == 2
            assert agent.status()["reconnects"] == 1
        finally:
            agent.close()


def test_agent_reports_vcenter_down_then_reconnects() -> None:
    with Simulator(vms=1) as private:
        agent = VSphereAgent(_record(private), connect_timeout_s=2.0)
        try:
            run(agent, "about")
            port = private.port
            private.stop()
            with pytest.raises(VSphereError, match=f"127.0.0.1:{port}"):
                run(agent, "vm.discover")
            private.start()
            time.sleep(VSPHERE_CONNECT_HOLDOFF_S)
            assert len(run(agent, "vm.discover")["result"]) == 1
        finally:
            agent.close()
