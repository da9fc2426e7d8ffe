"""Events, sessions, alarms, relationships, guest data, snapshots and vSAN against the simulator.

Most tasks run directly on a VSphereAgent; a few go through the real stack.
Expected values are read from the simulator with a plain pyVmomi session,
always through the property collector (lazy attribute reads of unset
properties crash the simulator's connection). Whatever a test changes
(snapshots, power state, names) is restored in its teardown, as the
simulator is shared by the whole session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

import vpoller.vsphere.tasks  # noqa: F401 -- registers the task methods
from vpoller.errors import NotSupportedError, ObjectNotFoundError
from vpoller.registry import AgentRecord
from vpoller.request import Reply, Request
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack
from vpoller.vsphere.agent import VSphereAgent
from vpoller.vsphere.taskregistry import TASKS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PC: Any = vmodl.query.PropertyCollector
SNAPSHOT_NAMES = ("vp-snap-1", "vp-snap-2", "vp-snap-3")
ODD_NAME = 'vp "quoted" \\ näme ✓'


@pytest.fixture(scope="module")
def agent(sim: Simulator) -> Iterator[VSphereAgent]:
    record = AgentRecord(
        host=sim.host,
        user=sim.username,
        password=sim.password,
        port=sim.port,
        enabled=True,
        ca_file=sim.ca_file,
    )
    made = VSphereAgent(record, connect_timeout_s=5.0, concurrency=2)
    try:
        yield made
    finally:
        made.close()


def run(agent: VSphereAgent, method: str, **keys: Any) -> Reply:
    return agent.execute(TASKS[method], Request(method=method, hostname=agent.host, **keys))


def ok(reply: Reply | str) -> list[dict[str, Any]]:
    assert isinstance(reply, dict), reply
    assert reply["success"] == 0, reply
    result: list[dict[str, Any]] = reply["result"]
    return result


def props(si: Any, refs: list[Any], paths: list[str]) -> dict[str, dict[str, Any]]:
    """``{moref: {path: value}}`` of ``refs`` read with one property-collector query."""
    if not refs:
        return {}
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=ref) for ref in refs],
        propSet=[PC.PropertySpec(type=cls, pathSet=paths) for cls in {type(ref) for ref in refs}],
    )
    result = si.content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
    out: dict[str, dict[str, Any]] = {ref._moId: {} for ref in refs}
    while result is not None:
        for oc in result.objects:
            out[oc.obj._moId] = {p.name: p.val for p in oc.propSet}
        if not result.token:
            break
        result = si.content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
    return out


def objects_of(si: Any, vim_type: type) -> list[Any]:
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim_type], True)
    try:
        refs = list(view.view)
    finally:
        view.DestroyView()
    return sorted(refs, key=lambda ref: ref._moId)


def name_of(si: Any, ref: Any) -> Any:
    return props(si, [ref], ["name"])[ref._moId].get("name")


def names(si: Any, refs: list[Any]) -> list[Any]:
    found = props(si, refs, ["name"])
    return sorted(found[ref._moId]["name"] for ref in refs)


@pytest.fixture(scope="module")
def vm(si: Any) -> Any:
    """The VM this module changes (the last one, away from what other tests read first)."""
    return objects_of(si, vim.VirtualMachine)[-1]


@pytest.fixture(scope="module")
def snapshot_vm(si: Any, vm: Any) -> Iterator[Any]:
    """``vm`` with a chain of three nested snapshots, removed afterwards."""
    try:
        for index, name in enumerate(SNAPSHOT_NAMES):
            # Each snapshot becomes the current one, so the next nests below it.
            WaitForTask(
                vm.CreateSnapshot_Task(
                    name=name, description=f"level {index + 1}", memory=False, quiesce=False
                )
            )
        yield vm
    finally:
        WaitForTask(vm.RemoveAllSnapshots_Task())


@pytest.fixture
def renamed_vm(si: Any, vm: Any) -> Iterator[Any]:
    """``vm`` under a name with quotes, a backslash and non-ASCII characters."""
    original = name_of(si, vm)
    WaitForTask(vm.Rename_Task(newName=ODD_NAME))
    try:
        yield vm
    finally:
        WaitForTask(vm.Rename_Task(newName=original))


# -- general ----------------------------------------------------------------------


def test_event_latest_reports_power_cycle(agent: VSphereAgent, si: Any, vm: Any) -> None:
    name = name_of(si, vm)
    run(agent, "about")  # log in first: a login is an event too
    WaitForTask(vm.PowerOffVM_Task())
    try:
        result = run(agent, "event.latest")["result"]
    finally:
        WaitForTask(vm.PowerOnVM_Task())
    assert len(result) == 1
    assert name in result[0]["event"]


def test_event_latest_through_stack_is_message(stack: Stack) -> None:
    result = ok(stack.request({"method": "event.latest", "hostname": stack.agent}))
    assert list(result[0]) == ["event"]
    assert isinstance(result[0]["event"], str) and result[0]["event"]


def test_session_get_lists_own_session(agent: VSphereAgent, si: Any, sim: Simulator) -> None:
    result = ok(run(agent, "session.get"))
    manager = si.content.sessionManager
    current = props(si, [manager], ["currentSession"])[manager._moId]["currentSession"]
    rows = {row["key"]: row for row in result}
    assert current.key in rows
    assert rows[current.key]["userName"] == current.userName
    assert set(rows[current.key]) == {
        "key",
        "userName",
        "fullName",
        "loginTime",
        "lastActiveTime",
        "ipAddress",
        "userAgent",
        "callCount",
    }


def test_session_get_times_are_iso8601(agent: VSphereAgent, sim: Simulator) -> None:
    row = ok(run(agent, "session.get"))[0]
    assert "T" in row["loginTime"]
    assert isinstance(row["callCount"], int)


# -- alarms -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("otype", "vim_type"),
    [
        ("datacenter", vim.Datacenter),
        ("cluster", vim.ClusterComputeResource),
        ("host", vim.HostSystem),
        ("vm", vim.VirtualMachine),
        ("datastore", vim.Datastore),
    ],
)
def test_alarm_get_matches_triggered_states(
    agent: VSphereAgent, si: Any, otype: str, vim_type: type
) -> None:
    ref = objects_of(si, vim_type)[0]
    found = props(si, [ref], ["name", "triggeredAlarmState"])[ref._moId]
    result = ok(run(agent, f"{otype}.alarm.get", name=found["name"]))
    assert sorted(row["key"] for row in result) == sorted(
        state.key for state in found.get("triggeredAlarmState") or ()
    )


def test_alarm_get_batch_skips_unknown_names(agent: VSphereAgent, si: Any) -> None:
    hosts = objects_of(si, vim.HostSystem)[:2]
    found = props(si, hosts, ["name", "triggeredAlarmState"])
    expected = sorted(s.key for p in found.values() for s in p.get("triggeredAlarmState") or ())
    batch = (*(p["name"] for p in found.values()), "no-such-host")
    result = ok(run(agent, "host.alarm.get", name=batch))
    assert sorted(row["key"] for row in result) == expected


def test_alarm_get_unknown_name_raises_not_found(agent: VSphereAgent) -> None:
    with pytest.raises(ObjectNotFoundError, match="'no-such-vm'"):
        run(agent, "vm.alarm.get", name="no-such-vm")


# -- relationships ------------------------------------------------------------------


def _host_and_vms(si: Any) -> tuple[Any, dict[str, Any]]:
    host = objects_of(si, vim.HostSystem)[0]
    return host, props(si, [host], ["name", "vm", "network", "datastore", "parent"])[host._moId]


def test_host_vm_get_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    _, host = _host_and_vms(si)
    result = ok(run(agent, "host.vm.get", name=host["name"]))
    assert len(result) == 1
    assert result[0]["name"] == host["name"]
    assert sorted(result[0]["vm"]) == names(si, list(host["vm"]))
    assert host["vm"]


def test_host_net_get_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    _, host = _host_and_vms(si)
    result = ok(run(agent, "host.net.get", name=host["name"]))
    assert sorted(result[0]["network"]) == names(si, list(host["network"]))


def test_host_datastore_get_has_name_and_url(agent: VSphereAgent, si: Any) -> None:
    _, host = _host_and_vms(si)
    refs = list(host["datastore"])
    expected = props(si, refs, ["name", "info.url"])
    result = ok(run(agent, "host.datastore.get", name=host["name"]))
    assert result == [
        {
            "name": host["name"],
            "datastore": [
                {"name": expected[r._moId]["name"], "info.url": expected[r._moId]["info.url"]}
                for r in refs
            ],
        }
    ]


def test_host_cluster_get_names_cluster(agent: VSphereAgent, si: Any) -> None:
    cluster = objects_of(si, vim.ClusterComputeResource)[0]
    found = props(si, [cluster], ["name", "host"])[cluster._moId]
    host_name = name_of(si, found["host"][0])
    result = ok(run(agent, "host.cluster.get", name=host_name))
    assert result == [{"name": host_name, "cluster": found["name"]}]


def test_host_cluster_get_standalone_host_is_null(agent: VSphereAgent, si: Any) -> None:
    result = ok(run(agent, "host.cluster.get", name="DC0_H0"))
    assert result == [{"name": "DC0_H0", "cluster": None}]


def test_host_vm_get_batch_keyed_by_host(agent: VSphereAgent, si: Any) -> None:
    hosts = objects_of(si, vim.HostSystem)[:2]
    found = props(si, hosts, ["name", "vm"])
    expected = {p["name"]: names(si, list(p["vm"])) for p in found.values()}
    result = ok(run(agent, "host.vm.get", name=tuple(expected)))
    assert {row["name"]: sorted(row["vm"]) for row in result} == expected


def test_vm_host_get_names_host(agent: VSphereAgent, si: Any, vm: Any) -> None:
    found = props(si, [vm], ["name", "runtime.host"])[vm._moId]
    result = ok(run(agent, "vm.host.get", name=found["name"]))
    assert result == [{"name": found["name"], "host": name_of(si, found["runtime.host"])}]


def test_vm_net_get_matches_pyvmomi(agent: VSphereAgent, si: Any, vm: Any) -> None:
    found = props(si, [vm], ["name", "network"])[vm._moId]
    result = ok(run(agent, "vm.net.get", name=found["name"]))
    assert result == [{"name": found["name"], "network": names(si, list(found["network"]))}]
    assert found["network"]


def test_vm_datastore_get_matches_pyvmomi(agent: VSphereAgent, si: Any, vm: Any) -> None:
    found = props(si, [vm], ["name", "datastore"])[vm._moId]
    expected = props(si, list(found["datastore"]), ["name", "info.url"])
    result = ok(run(agent, "vm.datastore.get", name=found["name"]))
    assert result == [
        {
            "name": found["name"],
            "datastore": [
                {"name": p["name"], "info.url": p["info.url"]} for p in expected.values()
            ],
        }
    ]


def test_vm_datastore_get_by_moref(agent: VSphereAgent, si: Any, vm: Any) -> None:
    found = props(si, [vm], ["datastore"])[vm._moId]
    result = ok(run(agent, "vm.datastore.get", moref=vm._moId))
    assert sorted(d["name"] for d in result[0]["datastore"]) == names(si, list(found["datastore"]))


def test_datastore_vm_get_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    ds = objects_of(si, vim.Datastore)[0]
    found = props(si, [ds], ["name", "info.url", "vm"])[ds._moId]
    result = ok(run(agent, "datastore.vm.get", name=found["info.url"]))
    row = {**result[0], "vm": sorted(result[0]["vm"])}
    assert row == {
        "name": found["name"],
        "info.url": found["info.url"],
        "vm": names(si, list(found.get("vm") or ())),
    }
    assert row["vm"]


def test_datastore_host_get_matches_mounts(agent: VSphereAgent, si: Any) -> None:
    ds = objects_of(si, vim.Datastore)[0]
    found = props(si, [ds], ["name", "host"])[ds._moId]
    result = ok(run(agent, "datastore.host.get", name=found["name"]))
    assert sorted(result[0]["host"]) == names(si, [m.key for m in found["host"]])
    assert result[0]["host"]


def test_net_vm_get_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    # govmomi 0.24 leaves Network.vm empty although VMs use the portgroups
    # (vCenter keeps it): the answer must still be what the server holds.
    found = props(si, objects_of(si, vim.Network), ["name", "vm"])
    net = next(p for p in found.values() if p["name"] == "DC0_DVPG0")
    result = ok(run(agent, "net.vm.get", name="DC0_DVPG0"))
    assert result == [{"name": "DC0_DVPG0", "vm": names(si, list(net.get("vm") or ()))}]


def test_net_host_get_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    found = props(si, objects_of(si, vim.Network), ["name", "host"])
    net = next(p for p in found.values() if p["name"] == "DC0_DVPG0")
    result = ok(run(agent, "net.host.get", name="DC0_DVPG0"))
    assert sorted(result[0]["host"]) == names(si, list(net["host"]))
    assert result[0]["host"]


def test_resource_pool_vm_get_returns_properties(agent: VSphereAgent, si: Any) -> None:
    pools = props(si, objects_of(si, vim.ResourcePool), ["name", "vm"])
    moref, pool = next((m, p) for m, p in pools.items() if p.get("vm"))
    vms = props(si, list(pool["vm"]), ["name", "runtime.powerState"])
    result = ok(run(agent, "resource.pool.vm.get", moref=moref, properties=("runtime.powerState",)))
    assert sorted((r["name"], r["runtime.powerState"]) for r in result) == sorted(
        (p["name"], p["runtime.powerState"]) for p in vms.values()
    )


def test_host_vm_get_through_stack_matches_pyvmomi(stack: Stack, si: Any) -> None:
    _, host = _host_and_vms(si)
    reply = stack.request({"method": "host.vm.get", "hostname": stack.agent, "name": host["name"]})
    assert sorted(ok(reply)[0]["vm"]) == names(si, list(host["vm"]))


# -- guest -----------------------------------------------------------------------------


def test_vm_disk_discover_matches_guest_disks(agent: VSphereAgent, si: Any, vm: Any) -> None:
    found = props(si, [vm], ["name", "guest.disk"])[vm._moId]
    result = ok(run(agent, "vm.disk.discover", name=found["name"], properties=("capacity",)))
    assert result == [
        {"diskPath": d.diskPath, "capacity": d.capacity} for d in found.get("guest.disk") or ()
    ]


def test_vm_disk_get_unknown_disk_raises_not_found(agent: VSphereAgent, si: Any, vm: Any) -> None:
    with pytest.raises(ObjectNotFoundError, match="no guest disk '/no/such'"):
        run(agent, "vm.disk.get", name=name_of(si, vm), key="/no/such")


def test_vm_guest_net_get_matches_guest_nics(agent: VSphereAgent, si: Any, vm: Any) -> None:
    found = props(si, [vm], ["name", "guest.net"])[vm._moId]
    result = ok(run(agent, "vm.guest.net.get", name=found["name"], properties=("macAddress",)))
    assert result == [
        {"network": nic.network, "macAddress": nic.macAddress} for nic in found["guest.net"]
    ]
    assert result


def test_vm_process_get_names_missing_capability(agent: VSphereAgent, si: Any, vm: Any) -> None:
    with pytest.raises(NotSupportedError, match="ListProcessesInGuest"):
        run(agent, "vm.process.get", name=name_of(si, vm), username="root", password="pw")


def test_vm_process_get_through_stack_is_clear_error(stack: Stack, si: Any, vm: Any) -> None:
    reply = stack.request(
        {
            "method": "vm.process.get",
            "hostname": stack.agent,
            "name": name_of(si, vm),
            "username": "root",
            "password": "s3cret-guest-pw",
        }
    )
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert "guest process listing" in reply["msg"]
    assert "s3cret-guest-pw" not in reply["msg"]


def test_vm_process_get_without_password_is_refused(stack: Stack, si: Any, vm: Any) -> None:
    reply = stack.request(
        {"method": "vm.process.get", "hostname": stack.agent, "name": name_of(si, vm)}
    )
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert "'password'" in reply["msg"]


# -- snapshots ---------------------------------------------------------------------------


def test_vm_snapshot_get_returns_every_depth(
    agent: VSphereAgent, si: Any, snapshot_vm: Any
) -> None:
    result = ok(run(agent, "vm.snapshot.get", name=name_of(si, snapshot_vm)))
    assert [row["name"] for row in result] == list(SNAPSHOT_NAMES)


def test_vm_snapshot_get_matches_tree(agent: VSphereAgent, si: Any, snapshot_vm: Any) -> None:
    tree = props(si, [snapshot_vm], ["snapshot.rootSnapshotList"])[snapshot_vm._moId]
    nodes = []
    level = list(tree["snapshot.rootSnapshotList"])
    while level:
        nodes.extend(level)
        level = [child for node in level for child in node.childSnapshotList]
    result = ok(run(agent, "vm.snapshot.get", moref=snapshot_vm._moId))
    assert result == [
        {
            "createTime": node.createTime.isoformat(),
            "description": node.description,
            "id": node.id,
            "name": node.name,
            "quiesced": node.quiesced,
            "state": node.state,
        }
        for node in nodes
    ]


def test_vm_snapshot_get_without_snapshots_is_empty(agent: VSphereAgent, si: Any) -> None:
    other = objects_of(si, vim.VirtualMachine)[0]
    assert "snapshot" not in props(si, [other], ["snapshot"])[other._moId]
    assert ok(run(agent, "vm.snapshot.get", moref=other._moId)) == []


def test_vm_snapshot_get_zabbix_discovery(stack: Stack, si: Any, snapshot_vm: Any) -> None:
    reply = stack.request(
        {
            "method": "vm.snapshot.get",
            "hostname": stack.agent,
            "name": name_of(si, snapshot_vm),
            "helper": "vpoller.helpers.zabbix",
        }
    )
    assert isinstance(reply, dict), reply  # the client decodes the discovery JSON text
    data = reply["data"]
    assert [row["{#VSPHERE.VM.NAME}"] for row in data] == list(SNAPSHOT_NAMES)


# -- vSAN --------------------------------------------------------------------------------


def test_vsan_health_get_names_missing_capability(agent: VSphereAgent, si: Any) -> None:
    host = name_of(si, objects_of(si, vim.HostSystem)[0])
    with pytest.raises(NotSupportedError, match="vSAN"):
        run(agent, "vsan.health.get", name=host)


def test_vsan_health_get_zabbix_is_message(stack: Stack, si: Any) -> None:
    host = name_of(si, objects_of(si, vim.HostSystem)[0])
    reply = stack.request(
        {
            "method": "vsan.health.get",
            "hostname": stack.agent,
            "name": host,
            "helper": "vpoller.helpers.zabbix",
        }
    )
    assert isinstance(reply, str)
    assert "vSAN is not supported" in reply


# -- zabbix helper with awkward names ------------------------------------------------------


def test_vm_host_get_zabbix_odd_name(stack: Stack, si: Any, renamed_vm: Any) -> None:
    raw = stack.client().run_raw(
        {
            "method": "vm.host.get",
            "hostname": stack.agent,
            "name": ODD_NAME,
            "helper": "vpoller.helpers.zabbix",
        }
    )
    assert raw is not None
    host = props(si, [renamed_vm], ["runtime.host"])[renamed_vm._moId]["runtime.host"]
    assert json.loads(raw.decode("utf-8")) == {
        "data": [{"{#VSPHERE.VM.NAME}": ODD_NAME, "{#VSPHERE.VM.HOST}": name_of(si, host)}]
    }


def test_host_vm_get_zabbix_lists_odd_name(stack: Stack, si: Any, renamed_vm: Any) -> None:
    host = props(si, [renamed_vm], ["runtime.host"])[renamed_vm._moId]["runtime.host"]
    reply = stack.request(
        {
            "method": "host.vm.get",
            "hostname": stack.agent,
            "name": name_of(si, host),
            "helper": "vpoller.helpers.zabbix",
        }
    )
    assert isinstance(reply, dict), reply
    (row,) = reply["data"]
    assert ODD_NAME in json.loads(row["{#VSPHERE.HOST.VM}"])
