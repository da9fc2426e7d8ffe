"""Task methods on resource pools (vim.ResourcePool)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import objects, relations
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

RESOURCE_POOL = objects.OBJECT_TYPES["resource.pool"]


@task("resource.pool.discover", peek=objects.peek_discover(RESOURCE_POOL))
def resource_pool_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every resource.pool object with the requested properties."""
    return objects.discover(agent, RESOURCE_POOL, request)


@task("resource.pool.get", required=("name", "properties"), peek=objects.peek_get(RESOURCE_POOL))
def resource_pool_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one resource.pool object."""
    return objects.get(agent, RESOURCE_POOL, request)


@task("resource.pool.vm.get", required=("name",))
def resource_pool_vm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The virtual machines of the resource pool(s) named."""
    return relations.get(agent, relations.RELATIONS["resource.pool.vm.get"], request)
