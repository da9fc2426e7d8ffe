"""The seven inventory object types and the ``discover`` / ``get`` logic they share.

Each task module (``vpoller.vsphere.tasks.<type>``) registers thin task
functions that call :func:`discover` and :func:`get` with its
:class:`ObjectType`; what differs between types (the vim class, which
properties identify an object and are always returned) lives in the table
:data:`OBJECT_TYPES`, not in seven copies of the code.

Objects are found by ``name`` (datastores by ``info.url`` or name), ``moref``
or, for VMs and hosts, ``uuid``; each of those may be a batch (a list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyVmomi import vim

from vpoller.errors import ObjectNotFoundError, RequestError
from vpoller.request import Reply, success
from vpoller.vsphere import collector
from vpoller.vsphere.serialize import to_json

if TYPE_CHECKING:
    from vpoller.request import Request
    from vpoller.vsphere.agent import VSphereAgent
    from vpoller.vsphere.collector import ObjectProps


@dataclass(frozen=True)
class ObjectType:
    """What the generic tasks need to know about one object type."""

    key: str  # method prefix, e.g. "resource.pool"
    vim_type: type
    label: str  # for messages, e.g. "resource pool"
    # Property paths a request's `name` is matched against, in that order.
    match_paths: tuple[str, ...] = ("name",)
    # Property paths every result row carries, before the requested ones.
    always: tuple[str, ...] = ("name",)
    # `vmSearch` argument of SearchIndex.FindAllByUuid; None: no uuid lookup.
    uuid_vm_search: bool | None = None


OBJECT_TYPES: dict[str, ObjectType] = {
    t.key: t
    for t in (
        ObjectType("datacenter", vim.Datacenter, "datacenter"),
        ObjectType("cluster", vim.ClusterComputeResource, "cluster"),
        ObjectType("resource.pool", vim.ResourcePool, "resource pool"),
        ObjectType("host", vim.HostSystem, "host", uuid_vm_search=False),
        ObjectType("vm", vim.VirtualMachine, "virtual machine", uuid_vm_search=True),
        ObjectType(
            "datastore",
            vim.Datastore,
            "datastore",
            match_paths=("info.url", "name"),
            always=("name", "info.url"),
        ),
        ObjectType("net", vim.Network, "network"),
    )
}


def wanted_paths(otype: ObjectType, request: Request) -> list[str]:
    """The type's always-present paths followed by the requested ones, without repeats."""
    return list(dict.fromkeys((*otype.always, *(request.properties or ()))))


def rows(objects: Sequence[ObjectProps], paths: Sequence[str]) -> list[dict[str, Any]]:
    """One JSON row per object keyed by ``paths``; a path the server did not return is null."""
    return [{path: to_json(obj.props.get(path)) for path in paths} for obj in objects]


def discover(agent: VSphereAgent, otype: ObjectType, request: Request) -> Reply:
    """Every object of the type with the requested properties."""
    paths = wanted_paths(otype, request)
    return success(rows(collector.retrieve_all(agent.content, otype.vim_type, paths), paths))


def get(agent: VSphereAgent, otype: ObjectType, request: Request) -> Reply:
    """The requested properties of the object(s) the request names."""
    paths = wanted_paths(otype, request)
    return success(rows(resolve(agent, otype, request, paths), paths))


def resolve(
    agent: VSphereAgent, otype: ObjectType, request: Request, paths: Sequence[str]
) -> list[ObjectProps]:
    """The objects named by ``moref``, ``uuid`` or ``name`` (first given wins), ``paths`` read.

    For a single object that cannot be found this raises
    :class:`ObjectNotFoundError` naming it; a batch returns the objects found,
    in request order.
    """
    if request.moref is not None:
        keys, found = _by_moref(agent, otype, _as_tuple(request.moref), paths)
        what = "moref"
    elif request.uuid is not None:
        keys, found = _by_uuid(agent, otype, _as_tuple(request.uuid), paths)
        what = "uuid"
    elif request.names:
        keys = request.names
        found = collector.find(agent.content, otype.vim_type, otype.match_paths, keys, paths)
        what = "name"
    else:
        raise RequestError("Missing required key 'name'")
    if not request.is_batch:
        missing = [key for key in keys if key not in found]
        if missing:
            by = "" if what == "name" else f" with {what}"
            raise ObjectNotFoundError(f"Cannot find {otype.label}{by} '{missing[0]}'")
    return [found[key] for key in keys if key in found]


def _by_moref(
    agent: VSphereAgent, otype: ObjectType, morefs: tuple[str, ...], paths: Sequence[str]
) -> tuple[tuple[str, ...], dict[str, ObjectProps]]:
    stub = agent.si._GetStub()
    refs = [otype.vim_type(moref, stub) for moref in morefs]
    try:
        objects = collector.retrieve(agent.content, refs, paths)
    except ObjectNotFoundError:
        if len(morefs) == 1:
            raise ObjectNotFoundError(
                f"Cannot find {otype.label} with moref '{morefs[0]}'"
            ) from None
        # One stale moref in a batch: look each up on its own.
        objects = []
        for ref in refs:
            try:
                objects.extend(collector.retrieve(agent.content, [ref], paths))
            except ObjectNotFoundError:
                continue
    return morefs, {obj.ref._moId: obj for obj in objects}


def _by_uuid(
    agent: VSphereAgent, otype: ObjectType, uuids: tuple[str, ...], paths: Sequence[str]
) -> tuple[tuple[str, ...], dict[str, ObjectProps]]:
    if otype.uuid_vm_search is None:
        raise RequestError(f"Lookup by 'uuid' is not supported for {otype.key} objects")
    search = agent.content.searchIndex
    refs: dict[str, Any] = {}
    for uuid in uuids:
        # FindByUuid rather than FindAllByUuid: every vSphere version (and
        # govmomi's simulator) has it, and a request names one object per uuid.
        ref = search.FindByUuid(uuid=uuid, vmSearch=otype.uuid_vm_search)
        if ref is None and otype.uuid_vm_search:
            # A VM has a BIOS uuid and a vCenter instance uuid; accept either.
            ref = search.FindByUuid(uuid=uuid, vmSearch=True, instanceUuid=True)
        if ref is not None:
            refs[uuid] = ref
    objects = {
        obj.ref._moId: obj for obj in collector.retrieve(agent.content, list(refs.values()), paths)
    }
    found = {uuid: objects[ref._moId] for uuid, ref in refs.items() if ref._moId in objects}
    return uuids, found


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value
