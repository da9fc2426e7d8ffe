"""Task methods on datastores (vim.Datastore), identified by info.url or name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import alarms, objects, relations
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

DATASTORE = objects.OBJECT_TYPES["datastore"]


@task("datastore.discover", peek=objects.peek_discover(DATASTORE))
def datastore_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every datastore object with the requested properties."""
    return objects.discover(agent, DATASTORE, request)


@task("datastore.get", required=("name", "properties"), peek=objects.peek_get(DATASTORE))
def datastore_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one datastore object."""
    return objects.get(agent, DATASTORE, request)


@task("datastore.alarm.get", required=("name",))
def datastore_alarm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The triggered alarms of the datastore(s) named."""
    return alarms.get(agent, DATASTORE, request)


@task("datastore.host.get", required=("name",))
def datastore_host_get(agent: VSphereAgent, request: Request) -> Reply:
    """The hosts of the datastore(s) named."""
    return relations.get(agent, relations.RELATIONS["datastore.host.get"], request)


@task("datastore.vm.get", required=("name",))
def datastore_vm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The virtual machines of the datastore(s) named."""
    return relations.get(agent, relations.RELATIONS["datastore.vm.get"], request)
