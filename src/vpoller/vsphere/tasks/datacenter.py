"""Task methods on datacenters (vim.Datacenter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import alarms, objects
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

DATACENTER = objects.OBJECT_TYPES["datacenter"]


@task("datacenter.discover", peek=objects.peek_discover(DATACENTER))
def datacenter_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every datacenter object with the requested properties."""
    return objects.discover(agent, DATACENTER, request)


@task("datacenter.get", required=("name", "properties"), peek=objects.peek_get(DATACENTER))
def datacenter_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one datacenter object."""
    return objects.get(agent, DATACENTER, request)


@task("datacenter.alarm.get", required=("name",))
def datacenter_alarm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The triggered alarms of the datacenter(s) named."""
    return alarms.get(agent, DATACENTER, request)
