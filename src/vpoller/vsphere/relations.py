"""Relationship methods (``host.vm.get``, ``vm.datastore.get``, ...) as one table.

Every relationship follows one reference property of the source object
(``vm`` of a host, ``datastore`` of a VM, ``host`` mounts of a datastore...)
to the objects it points to. What differs between the twelve methods lives
in :data:`RELATIONS`; :func:`get` does the work for all of them in two
property-collector round trips: one (through :func:`objects.resolve`) reading
the sources' reference lists, one reading the targets' names.

Three result shapes (SPEC.md, docs/methods.md), one row per source object
for all but the last, so a batch (a list of names) is keyed by object:

- *list* relations: the source's identifying fields and the related objects'
  names under the reference's key, ``[{"name": "esx01", "vm": ["vm01", ...]}]``;
  datastores are listed as ``{"name", "info.url"}`` objects, and a datastore
  source row carries its ``info.url`` too.
- *pair* relations (``host.cluster.get``, ``vm.host.get``): one name,
  ``[{"name": "vm01", "host": "esx01"}]`` (null when there is none).
- *object* relations (``resource.pool.vm.get``): one row per related object,
  keyed like that type's ``discover`` rows plus the requested ``properties``;
  in a batch each row carries its source's name under the source type's key,
  e.g. ``{"resource.pool": "rp1", "name": "vm01"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyVmomi import vim

from vpoller.request import SUCCESS_MSG, success
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
    # The result key of the related objects (list and pair relations).
    key: str = ""
    shape: str = "list"  # "list", "pair" or "objects", see the module docstring
    references: Callable[[Any], list[Any]] = _references
    # Keep only targets of this class (a standalone host's parent is a plain
    # ComputeResource, which is not a cluster).
    only: type | None = None


def _relation(method: str, path: str, target: str, key: str, **extra: Any) -> Relation:
    source = method.removesuffix(f".{target}.get")
    return Relation(method, OBJECT_TYPES[source], path, OBJECT_TYPES[target], key, **extra)


RELATIONS: dict[str, Relation] = {
    r.method: r
    for r in (
        _relation("net.host.get", "host", "host", "host"),
        _relation("net.vm.get", "vm", "vm", "vm"),
        _relation("resource.pool.vm.get", "vm", "vm", "", shape="objects"),
        _relation(
            "host.cluster.get",
            "parent",
            "cluster",
            "cluster",
            shape="pair",
            only=vim.ClusterComputeResource,
        ),
        _relation("host.vm.get", "vm", "vm", "vm"),
        _relation("host.net.get", "network", "net", "network"),
        _relation("host.datastore.get", "datastore", "datastore", "datastore"),
        _relation("vm.host.get", "runtime.host", "host", "host", shape="pair"),
        _relation("vm.net.get", "network", "net", "network"),
        _relation("vm.datastore.get", "datastore", "datastore", "datastore"),
        _relation("datastore.host.get", "host", "host", "host", references=_mounted_hosts),
        _relation("datastore.vm.get", "vm", "vm", "vm"),
    )
}


def get(agent: VSphereAgent, relation: Relation, request: Request) -> Reply:
    """The objects related to the request's source object(s), shaped as the module says."""
    source_paths = (*relation.source.always, relation.path)
    sources = objects.resolve(agent, relation.source, request, source_paths)
    linked: list[tuple[ObjectProps, list[str]]] = []
    unique: dict[str, Any] = {}
    for source in sources:
        refs = relation.references(source.props.get(relation.path))
        if relation.only is not None:
            refs = [ref for ref in refs if isinstance(ref, relation.only)]
        for ref in refs:
            unique.setdefault(ref._moId, ref)
        # Each related object once, in reference order.
        linked.append((source, list(dict.fromkeys(ref._moId for ref in refs))))
    if relation.shape == "objects":
        paths = objects.wanted_paths(relation.target, request)
    else:
        paths = list(relation.target.always)
    found = collector.retrieve(agent.content, list(unique.values()), paths)
    targets = {obj.ref._moId: obj for obj in found}
    result: list[dict[str, Any]] = []
    for source, moids in linked:
        related = [targets[moid] for moid in moids if moid in targets]
        if relation.shape == "objects":
            batch_key = {relation.source.key: source.props.get("name")} if request.is_batch else {}
            result.extend({**batch_key, **row} for row in objects.rows(related, paths))
            continue
        row = objects.rows([source], relation.source.always)[0]
        items = [_item(obj, paths) for obj in related]
        if relation.shape == "pair":
            row[relation.key] = items[0] if items else None
        else:
            row[relation.key] = items
        result.append(row)
    return success(result, objects.found_message(SUCCESS_MSG, sources))


def _item(obj: ObjectProps, paths: list[str]) -> Any:
    """A related object in a list: its name, or its identifying fields when it has several."""
    row = objects.rows([obj], paths)[0]
    return row if len(paths) > 1 else row[paths[0]]
