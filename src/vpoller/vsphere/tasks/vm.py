"""Task methods on virtual machines (vim.VirtualMachine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import objects
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

VM = objects.OBJECT_TYPES["vm"]


@task("vm.discover")
def vm_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every vm object with the requested properties."""
    return objects.discover(agent, VM, request)


@task("vm.get", required=("name", "properties"))
def vm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one vm object."""
    return objects.get(agent, VM, request)
