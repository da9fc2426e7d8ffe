"""vSphere task methods, one module per object type plus ``general``.

The worker imports this package by name (``[worker] tasks``); importing it
registers every task method in :data:`vpoller.vsphere.taskregistry.TASKS`.
"""

from __future__ import annotations

from vpoller.vsphere.tasks import (
    cluster,
    datacenter,
    datastore,
    general,
    host,
    net,
    perf,
    resource_pool,
    vm,
)

__all__ = [
    "cluster",
    "datacenter",
    "datastore",
    "general",
    "host",
    "net",
    "perf",
    "resource_pool",
    "vm",
]
