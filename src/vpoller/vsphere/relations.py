"""Relationship methods (``host.vm.get``, ``vm.datastore.get``, ...) as one table.

Every relationship follows one reference property of the source object
(``vm`` of a host, ``datastore`` of a VM, ``host`` mounts of a datastore...)
to the objects it points to. What differs between the twelve methods lives
in :data:`RELATIONS`; :func:`get` does the work for all of them in two
property-collector round trips: one (through :func:`objects.resolve`) reading
the sources' reference lists, one reading the targets' names.

Two result shapes (SPEC.md):

- *list* relations answer one row per target object, keyed like that type's
  ``discover`` rows (``name``; datastores ``info.url`` too) plus any requested
  ``properties``: ``[{"name": "vm01"}, ...]``. When the request names several
  sources (a batch), each row also carries the source's name under the source
  type's key, e.g. ``{"host": "esx01", "name": "vm01"}``.
- *pair* relations (``host.cluster.get``, ``vm.host.get``) answer one row per
  source: ``[{"name": "vm01", "host": "esx01"}]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyVmomi import vim

from vpoller.request import success
from vpoller.vsphere import collector, objects
from vpoller.vsphere.objects import OBJECT_TYPES, ObjectType

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent
    from vpoller.vsphere.collector import ObjectProps


def _references(value: Any) -> list[Any]:
    """A reference property's value (one reference, a list, or unset) as a list."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _mounted_hosts(value: Any) -> list[Any]:
    """The hosts of a datastore's ``host`` property (a list of ``DatastoreHostMount``)."""
    return [mount.key for mount in _references(value) if mount.key is not None]


@dataclass(frozen=True)
class Relation:
    """One relationship method: which reference of ``source`` leads to ``target`` objects."""

    method: str
    source: ObjectType
    path: str  # reference property of the source
    target: ObjectType
    # Set for pair relations: the result key holding the target's name.
    pair_key: str | None = None
    references: Callable[[Any], list[Any]] = _references
    # Keep only targets of this class (a standalone host's parent is a plain
    # ComputeResource, which is not a cluster).
    only: type | None = None


def _relation(method: str, path: str, target: str, **extra: Any) -> Relation:
    source = method.removesuffix(f".{target}.get")
    return Relation(method, OBJECT_TYPES[source], path, OBJECT_TYPES[target], **extra)


RELATIONS: dict[str, Relation] = {
    r.method: r
    for r in (
        _relation("net.host.get", "host", "host"),
        _relation("net.vm.get", "vm", "vm"),
        _relation("resource.pool.vm.get", "vm", "vm"),
        _relation(
            "host.cluster.get",
            "parent",
            "cluster",
            pair_key="cluster",
            only=vim.ClusterComputeResource,
        ),
        _relation("host.vm.get", "vm", "vm"),
        _relation("host.net.get", "network", "net"),
        _relation("host.datastore.get", "datastore", "datastore"),
        _relation("vm.host.get", "runtime.host", "host", pair_key="host"),
        _relation("vm.net.get", "network", "net"),
        _relation("vm.datastore.get", "datastore", "datastore"),
        _relation("datastore.host.get", "host", "host", references=_mounted_hosts),
        _relation("datastore.vm.get", "vm", "vm"),
    )
}


def get(agent: VSphereAgent, relation: Relation, request: Request) -> Reply:
    """The objects related to the request's source object(s), shaped as the module says."""
    sources = objects.resolve(agent, relation.source, request, ("name", relation.path))
    linked: list[tuple[ObjectProps, list[Any]]] = []
    unique: dict[str, Any] = {}
    for source in sources:
        refs = relation.references(source.props.get(relation.path))
        if relation.only is not None:
            refs = [ref for ref in refs if isinstance(ref, relation.only)]
        linked.append((source, refs))
        for ref in refs:
            unique.setdefault(ref._moId, ref)
    if relation.pair_key is not None:
        paths: list[str] = ["name"]
    else:
        paths = objects.wanted_paths(relation.target, request)
    targets = {
        obj.ref._moId: obj
        for obj in collector.retrieve(agent.content, list(unique.values()), paths)
    }
    if relation.pair_key is not None:
        return success([_pair_row(relation.pair_key, src, refs, targets) for src, refs in linked])
    result: list[dict[str, Any]] = []
    for source, refs in linked:
        moids = dict.fromkeys(ref._moId for ref in refs)  # in reference order, once each
        found = [targets[moid] for moid in moids if moid in targets]
        batch_key = {relation.source.key: source.props.get("name")} if request.is_batch else {}
        result.extend({**batch_key, **row} for row in objects.rows(found, paths))
    return success(result)


def _pair_row(
    key: str, source: ObjectProps, refs: list[Any], targets: dict[str, ObjectProps]
) -> dict[str, Any]:
    target = next((targets[ref._moId] for ref in refs if ref._moId in targets), None)
    return {"name": source.props.get("name"), key: target.props.get("name") if target else None}
