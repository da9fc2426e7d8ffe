"""Task methods on virtual machines (vim.VirtualMachine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import alarms, guest, objects, relations, snapshots
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

VM = objects.OBJECT_TYPES["vm"]


@task("vm.discover", peek=objects.peek_discover(VM))
def vm_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every vm object with the requested properties."""
    return objects.discover(agent, VM, request)


@task("vm.get", required=("name", "properties"), peek=objects.peek_get(VM))
def vm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one vm object."""
    return objects.get(agent, VM, request)


@task("vm.alarm.get", required=("name",))
def vm_alarm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The triggered alarms of the virtual machine(s) named."""
    return alarms.get(agent, VM, request)


@task("vm.host.get", required=("name",))
def vm_host_get(agent: VSphereAgent, request: Request) -> Reply:
    """The host of the virtual machine(s) named."""
    return relations.get(agent, relations.RELATIONS["vm.host.get"], request)


@task("vm.net.get", required=("name",))
def vm_net_get(agent: VSphereAgent, request: Request) -> Reply:
    """The networks of the virtual machine(s) named."""
    return relations.get(agent, relations.RELATIONS["vm.net.get"], request)


@task("vm.datastore.get", required=("name",))
def vm_datastore_get(agent: VSphereAgent, request: Request) -> Reply:
    """The datastores of the virtual machine(s) named."""
    return relations.get(agent, relations.RELATIONS["vm.datastore.get"], request)


@task("vm.disk.discover", required=("name",))
def vm_disk_discover(agent: VSphereAgent, request: Request) -> Reply:
    """The guest disks VMware Tools report (``diskPath`` always, plus ``properties``)."""
    return guest.items(agent, guest.DISKS, request)


@task("vm.disk.get", required=("name",))
def vm_disk_get(agent: VSphereAgent, request: Request) -> Reply:
    """The guest disk whose ``diskPath`` is ``key``, with the requested properties."""
    return guest.item(agent, guest.DISKS, request)


@task("vm.guest.net.get", required=("name",))
def vm_guest_net_get(agent: VSphereAgent, request: Request) -> Reply:
    """The guest NICs VMware Tools report (``network`` always, plus ``properties``)."""
    return guest.items(agent, guest.NICS, request)


@task("vm.process.get", required=("name", "username", "password"))
def vm_process_get(agent: VSphereAgent, request: Request) -> Reply:
    """The guest processes (``cmdLine`` always, plus ``properties``), via guest operations."""
    return guest.processes(agent, request)


@task("vm.snapshot.get", required=("name",))
def vm_snapshot_get(agent: VSphereAgent, request: Request) -> Reply:
    """Every snapshot in the VM's tree, at every depth."""
    return snapshots.get(agent, request)
