"""The seven inventory object types and the ``discover`` / ``get`` logic they share.

Each task module (``vpoller.vsphere.tasks.<type>``) registers thin task
functions that call :func:`discover` and :func:`get` with its
:class:`ObjectType`; what differs between types (the vim class, which
properties identify an object and are always returned) lives in the table
:data:`OBJECT_TYPES`, not in seven copies of the code.

Objects are found by ``name`` (datastores by ``info.url`` or name), ``moref``
or, for VMs and hosts, ``uuid``; each of those may be a batch (a list).

Lookups go through the session's inventory index (:mod:`vpoller.vsphere.inventory`)
once it is loaded, so a ``*.get`` costs one property retrieval for the objects
asked for, whatever the inventory's size; while it loads, names are matched
by a scan of the type. With the live mirror on, requests asking only for
tracked paths are answered from memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pyVmomi import vim

from vpoller.errors import ObjectNotFoundError, RequestError
from vpoller.request import SUCCESS_MSG, Reply, success
from vpoller.vsphere import collector, inventory
from vpoller.vsphere.serialize import to_json
from vpoller.vsphere.taskregistry import PeekFunc

if TYPE_CHECKING:
    from vpoller.request import Request
    from vpoller.vsphere.agent import VSphereAgent
    from vpoller.vsphere.collector import ObjectProps

T = TypeVar("T")


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
    mirrored = _mirrored_discover(inventory.of(agent), otype, request)
    if mirrored is not None:
        return mirrored
    paths = wanted_paths(otype, request)
    found = collector.retrieve_all_cached(agent.cache, agent.content, otype.vim_type, paths)
    return success(rows(found, paths))


def get(agent: VSphereAgent, otype: ObjectType, request: Request) -> Reply:
    """The requested properties of the object(s) the request names."""
    mirrored = _mirrored_get(agent, otype, request, inventory.of(agent))
    if mirrored is not None:
        return mirrored
    paths = wanted_paths(otype, request)
    found = resolve(agent, otype, request, paths)
    return success(rows(found, paths), found_message(SUCCESS_MSG, found))


def peek_discover(otype: ObjectType) -> PeekFunc:
    """The fast path of ``<type>.discover``: the mirror's rows, when it covers the request."""

    def peek(agent: VSphereAgent, request: Request) -> Reply | None:
        index = agent.existing_resource(inventory.INVENTORY_RESOURCE, inventory.Inventory)
        return None if index is None else _mirrored_discover(index, otype, request)

    return peek


def peek_get(otype: ObjectType) -> PeekFunc:
    """The fast path of ``<type>.get``: the mirror's rows, when it covers the request.

    Morefs are left to the normal path: building references needs the session's stub.
    """

    def peek(agent: VSphereAgent, request: Request) -> Reply | None:
        if request.moref is not None:
            return None
        index = agent.existing_resource(inventory.INVENTORY_RESOURCE, inventory.Inventory)
        return None if index is None else _mirrored_get(agent, otype, request, index)

    return peek


def _mirrored_discover(
    index: inventory.Inventory, otype: ObjectType, request: Request
) -> Reply | None:
    paths = wanted_paths(otype, request)
    if not index.mirrors(otype.key, paths):
        return None
    return success(index.rows(otype.key, paths))


def _mirrored_get(
    agent: VSphereAgent, otype: ObjectType, request: Request, index: inventory.Inventory
) -> Reply | None:
    """The rows from the mirror, or None when it does not cover the request."""
    paths = wanted_paths(otype, request)
    if not index.mirrors(otype.key, paths):
        return None
    keys, what, refs = _locate(agent, otype, request, index)
    found = {}
    for key, ref in refs.items():
        row = index.row(otype.key, ref._moId, paths)
        if row is not None:
            found[key] = row
    missing = [key for key in keys if key not in found]
    if what != "moref" and any(_unknown(index, otype, key) for key in missing):
        return None  # a name the index does not know (yet): ask vCenter
    rows_found = _in_order(otype, request, keys, what, found)
    return success(rows_found, found_message(SUCCESS_MSG, rows_found))


def _unknown(index: inventory.Inventory, otype: ObjectType, key: str) -> bool:
    return not index.known_missing(otype.key, key)


def resolve(
    agent: VSphereAgent, otype: ObjectType, request: Request, paths: Sequence[str]
) -> Found[ObjectProps]:
    """The objects named by ``moref``, ``uuid`` or ``name`` (first given wins), ``paths`` read.

    For a single object that cannot be found this raises
    :class:`ObjectNotFoundError` naming it; a batch returns the objects found,
    in request order.
    """
    index = inventory.of(agent)
    if request.moref is None and request.uuid is None and request.names and not index.ready:
        # The index is still loading: match names by a scan of the type.
        keys = request.names
        found = collector.find(agent.content, otype.vim_type, otype.match_paths, keys, paths)
        return _in_order(otype, request, keys, "name", found)
    keys, what, refs = _locate(agent, otype, request, index)
    if what != "name":
        return _in_order(otype, request, keys, what, _retrieve(agent, refs, paths))
    found = _by_name(agent, otype, index, refs=refs, names=keys, paths=paths)
    return _in_order(otype, request, keys, what, found)


def _by_name(
    agent: VSphereAgent,
    otype: ObjectType,
    index: inventory.Inventory,
    *,
    refs: Mapping[str, Any],
    names: Sequence[str],
    paths: Sequence[str],
) -> dict[str, ObjectProps]:
    """The named objects through the index, checked against vCenter's answer.

    The index lags vCenter by up to a second: a match whose name vCenter no
    longer reports is dropped, and a name the index does not hold is looked
    for by a scan, unless a scan already found nothing and the index has seen
    no object appear, leave or change name since.
    """
    match = otype.match_paths
    read = list(dict.fromkeys((*paths, *match)))
    found = {
        key: obj
        for key, obj in _retrieve(agent, refs, read).items()
        if any(obj.props.get(path) == key for path in match)
    }
    unknown = [key for key in names if key not in found and _unknown(index, otype, key)]
    if unknown:
        generation = index.generation(otype.key)
        scanned = collector.find(agent.content, otype.vim_type, match, unknown, paths)
        found.update(scanned)
        index.note_missing(otype.key, [key for key in unknown if key not in scanned], generation)
    return found


def _locate(
    agent: VSphereAgent, otype: ObjectType, request: Request, index: inventory.Inventory
) -> tuple[tuple[str, ...], str, dict[str, Any]]:
    """(the keys asked for, their kind, ``{key: reference}`` of those found).

    Names need the index to be ready; morefs and uuids work without it.
    """
    if request.moref is not None:
        morefs = _as_tuple(request.moref)
        stub = agent.si._GetStub()
        return morefs, "moref", {moref: otype.vim_type(moref, stub) for moref in morefs}
    if request.uuid is not None:
        if otype.uuid_vm_search is None:
            raise RequestError(f"Lookup by 'uuid' is not supported for {otype.key} objects")
        uuids = _as_tuple(request.uuid)
        if index.ready:
            return uuids, "uuid", index.find(otype.key, inventory.UUID_PATHS[otype.key], uuids)
        return uuids, "uuid", _search_uuids(agent, otype, uuids)
    if request.names:
        return request.names, "name", index.find(otype.key, otype.match_paths, request.names)
    raise RequestError("Missing required key 'name'")


class Found(list[T]):
    """Objects found for a request, in request order; ``missing`` names the rest (batches)."""

    missing: tuple[str, ...] = ()


def _in_order(
    otype: ObjectType,
    request: Request,
    keys: Sequence[str],
    what: str,
    found: Mapping[str, T],
) -> Found[T]:
    """``found`` in the order of ``keys``; a single missing object is an error."""
    missing = tuple(key for key in keys if key not in found)
    if missing and not request.is_batch:
        by = "" if what == "name" else f" with {what}"
        raise ObjectNotFoundError(f"Cannot find {otype.label}{by} '{missing[0]}'")
    out: Found[T] = Found(found[key] for key in keys if key in found)
    out.missing = missing
    return out


def found_message(base: str, found: Sequence[Any]) -> str:
    """``base``, naming what a batch asked for but was not found."""
    missing = getattr(found, "missing", ())
    if not missing:
        return base
    return f"{base}; not found: {', '.join(repr(key) for key in missing)}"


def _retrieve(
    agent: VSphereAgent, refs: Mapping[str, Any], paths: Sequence[str]
) -> dict[str, ObjectProps]:
    """``paths`` of every reference in one query; objects gone meanwhile are left out."""
    unique = list({ref._moId: ref for ref in refs.values()}.values())
    try:
        objects = collector.retrieve(agent.content, unique, paths)
    except ObjectNotFoundError:
        # One stale reference (a removed object): read each on its own.
        objects = []
        for ref in unique if len(unique) > 1 else ():
            try:
                objects.extend(collector.retrieve(agent.content, [ref], paths))
            except ObjectNotFoundError:
                continue
    by_moid = {obj.ref._moId: obj for obj in objects}
    return {key: by_moid[ref._moId] for key, ref in refs.items() if ref._moId in by_moid}


def _search_uuids(agent: VSphereAgent, otype: ObjectType, uuids: tuple[str, ...]) -> dict[str, Any]:
    """``{uuid: reference}`` through the SearchIndex (while the inventory index loads)."""
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
    return refs


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value
