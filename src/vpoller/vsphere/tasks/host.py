"""Task methods on hosts (vim.HostSystem), ``vsan.health.get`` (a host's vSAN status) included."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyVmomi import vmodl

from vpoller.errors import NotSupportedError
from vpoller.request import success
from vpoller.vsphere import alarms, objects, relations
from vpoller.vsphere.serialize import to_json
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

HOST = objects.OBJECT_TYPES["host"]
VSAN_SYSTEM_PATH = "configManager.vsanSystem"


@task("host.discover", peek=objects.peek_discover(HOST))
def host_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every host object with the requested properties."""
    return objects.discover(agent, HOST, request)


@task("host.get", required=("name", "properties"), peek=objects.peek_get(HOST))
def host_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one host object."""
    return objects.get(agent, HOST, request)


@task("host.alarm.get", required=("name",))
def host_alarm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The triggered alarms of the host(s) named."""
    return alarms.get(agent, HOST, request)


@task("host.cluster.get", required=("name",))
def host_cluster_get(agent: VSphereAgent, request: Request) -> Reply:
    """The cluster of the host(s) named."""
    return relations.get(agent, relations.RELATIONS["host.cluster.get"], request)


@task("host.vm.get", required=("name",))
def host_vm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The virtual machines of the host(s) named."""
    return relations.get(agent, relations.RELATIONS["host.vm.get"], request)


@task("host.net.get", required=("name",))
def host_net_get(agent: VSphereAgent, request: Request) -> Reply:
    """The networks of the host(s) named."""
    return relations.get(agent, relations.RELATIONS["host.net.get"], request)


@task("host.datastore.get", required=("name",))
def host_datastore_get(agent: VSphereAgent, request: Request) -> Reply:
    """The datastores of the host(s) named."""
    return relations.get(agent, relations.RELATIONS["host.datastore.get"], request)


@task("vsan.health.get", required=("name",))
def vsan_health_get(agent: VSphereAgent, request: Request) -> Reply:
    """The vSAN cluster status of the ESXi host(s) named (HostVsanSystem.QueryHostStatus).

    One row per host: ``name`` then the status fields ``health``, ``uuid``,
    ``nodeUuid``, ``nodeState`` and ``memberUuid``.
    """
    result = []
    for host in objects.resolve(agent, HOST, request, ("name", VSAN_SYSTEM_PATH)):
        name = host.props.get("name")
        vsan = host.props.get(VSAN_SYSTEM_PATH)
        if vsan is None:
            raise NotSupportedError(f"Host '{name}' has no vSAN system: vSAN is not supported")
        try:
            status = vsan.QueryHostStatus()
        except (vmodl.fault.ManagedObjectNotFound, vmodl.fault.MethodNotFound) as exc:
            # The simulator names a HostVsanSystem that does not exist; any
            # other missing object (the host itself) stays a plain fault.
            missing = getattr(exc, "obj", None)
            if missing is not None and missing._moId != vsan._moId:
                raise
            raise NotSupportedError(
                f"Host '{name}' has no working vSAN system (HostVsanSystem.QueryHostStatus "
                "failed): vSAN is not supported"
            ) from exc
        row = {"name": name, "health": to_json(status.health)}
        for field in ("uuid", "nodeUuid", "nodeState", "memberUuid"):
            row[field] = to_json(getattr(status, field, None))
        result.append(row)
    return success(result)
