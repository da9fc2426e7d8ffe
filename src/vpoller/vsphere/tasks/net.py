"""Task methods on networks (vim.Network, distributed portgroups included)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import objects, relations
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

NET = objects.OBJECT_TYPES["net"]


@task("net.discover", peek=objects.peek_discover(NET))
def net_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every net object with the requested properties."""
    return objects.discover(agent, NET, request)


@task("net.get", required=("name",), peek=objects.peek_get(NET))
def net_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one net object."""
    return objects.get(agent, NET, request)


@task("net.host.get", required=("name",))
def net_host_get(agent: VSphereAgent, request: Request) -> Reply:
    """The hosts of the network(s) named."""
    return relations.get(agent, relations.RELATIONS["net.host.get"], request)


@task("net.vm.get", required=("name",))
def net_vm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The virtual machines of the network(s) named."""
    return relations.get(agent, relations.RELATIONS["net.vm.get"], request)
