"""``vm.snapshot.get``: every snapshot of a VM's tree, at every depth.

The tree (``snapshot.rootSnapshotList``) arrives whole with one property
query of the VM; it is walked depth first, parents before their children, so
rows come in the order the snapshots were taken along each branch. A VM
without snapshots has an empty list. In a batch each row also carries the
VM's name as ``vm``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from vpoller.request import success
from vpoller.vsphere import objects
from vpoller.vsphere.serialize import to_json

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

VM = objects.OBJECT_TYPES["vm"]
TREE_PATH = "snapshot.rootSnapshotList"
SNAPSHOT_FIELDS = ("createTime", "description", "id", "name", "quiesced", "state")


def walk(trees: Iterable[Any]) -> Iterator[Any]:
    """Every ``vim.vm.SnapshotTree`` node below ``trees``, depth first, parents first."""
    stack = list(reversed(list(trees)))
    while stack:  # iterative: a long snapshot chain must not hit the recursion limit
        node = stack.pop()
        yield node
        stack.extend(reversed(node.childSnapshotList or ()))


def snapshot_row(node: Any) -> dict[str, Any]:
    """One snapshot tree node as a result row of :data:`SNAPSHOT_FIELDS`."""
    return {field: to_json(getattr(node, field, None)) for field in SNAPSHOT_FIELDS}


def get(agent: VSphereAgent, request: Request) -> Reply:
    """Every snapshot of the VM(s) the request names."""
    rows: list[dict[str, Any]] = []
    for vm in objects.resolve(agent, VM, request, ("name", TREE_PATH)):
        for node in walk(vm.props.get(TREE_PATH) or ()):
            row = snapshot_row(node)
            rows.append({"vm": vm.props.get("name"), **row} if request.is_batch else row)
    return success(rows)
