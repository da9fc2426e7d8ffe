"""Task methods on hosts (vim.HostSystem)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import objects
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

HOST = objects.OBJECT_TYPES["host"]


@task("host.discover")
def host_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every host object with the requested properties."""
    return objects.discover(agent, HOST, request)


@task("host.get", required=("name", "properties"))
def host_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one host object."""
    return objects.get(agent, HOST, request)
