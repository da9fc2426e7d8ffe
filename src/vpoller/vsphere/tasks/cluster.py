"""Task methods on clusters (vim.ClusterComputeResource)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import alarms, objects
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

CLUSTER = objects.OBJECT_TYPES["cluster"]


@task("cluster.discover", peek=objects.peek_discover(CLUSTER))
def cluster_discover(agent: VSphereAgent, request: Request) -> Reply:
    """Every cluster object with the requested properties."""
    return objects.discover(agent, CLUSTER, request)


@task("cluster.get", required=("name", "properties"), peek=objects.peek_get(CLUSTER))
def cluster_get(agent: VSphereAgent, request: Request) -> Reply:
    """The requested properties of one cluster object."""
    return objects.get(agent, CLUSTER, request)


@task("cluster.alarm.get", required=("name",))
def cluster_alarm_get(agent: VSphereAgent, request: Request) -> Reply:
    """The triggered alarms of the cluster(s) named."""
    return alarms.get(agent, CLUSTER, request)
