"""Property-collector helpers: every read is one RetrievePropertiesEx query.

Reading ``vm.runtime.powerState`` on a pyVmomi stub costs one round trip per
attribute and object; these helpers instead ask the property collector for
all wanted paths of all wanted objects at once, following the server's
continuation tokens for large results. A property the server cannot supply
for an object (``missingSet``) or a path invalid for the type is left out of
that object's values, never an error for the whole request (SPEC).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim, vmodl

from vpoller.errors import ObjectNotFoundError

log = logging.getLogger(__name__)

# Objects per RetrievePropertiesEx page: large enough that a typical inventory
# comes back in one or two round trips, small enough to bound one reply's size.
PAGE_OBJECTS = 1_000

# The spec classes are generated at runtime and untyped in pyVmomi's stubs.
_PC: Any = vmodl.query.PropertyCollector


@dataclass(frozen=True, slots=True)
class ObjectProps:
    """One managed object and the raw pyVmomi values of the paths the server returned."""

    ref: Any
    props: dict[str, Any]


def retrieve(content: Any, refs: Sequence[Any], paths: Sequence[str]) -> list[ObjectProps]:
    """Read ``paths`` of every object in ``refs`` in one query, in server order.

    ``refs`` may mix types. A reference to an object that no longer exists
    raises :class:`ObjectNotFoundError`.
    """
    if not refs:
        return []
    by_type: dict[type, None] = dict.fromkeys(type(ref) for ref in refs)
    object_set = [_PC.ObjectSpec(obj=ref, skip=False) for ref in refs]

    def spec(wanted: Sequence[str]) -> Any:
        prop_set = [_PC.PropertySpec(type=cls, all=False, pathSet=list(wanted)) for cls in by_type]
        return _PC.FilterSpec(
            objectSet=object_set, propSet=prop_set, reportMissingObjectsInResults=False
        )

    try:
        return _query(content, spec, paths)
    except vmodl.fault.ManagedObjectNotFound as exc:
        raise ObjectNotFoundError(f"Managed object {_moid(exc.obj)} no longer exists") from exc


def retrieve_all(
    content: Any,
    obj_type: type,
    paths: Sequence[str],
    *,
    root: Any = None,
    page_objects: int = PAGE_OBJECTS,
    view: Any = None,
) -> list[ObjectProps]:
    """Read ``paths`` of every object of ``obj_type`` below ``root`` (default: the root folder).

    Walks a ContainerView in pages of ``page_objects``: ``view`` when given
    (see :func:`retrieve_all_cached`), else one made for this call and destroyed
    before returning, also on failure.
    """
    if view is not None:
        return _query(content, _view_spec(view, obj_type), paths, page_objects=page_objects)
    view = content.viewManager.CreateContainerView(
        container=root if root is not None else content.rootFolder,
        type=[obj_type],
        recursive=True,
    )
    try:
        return _query(content, _view_spec(view, obj_type), paths, page_objects=page_objects)
    finally:
        _destroy_quietly(view)


def retrieve_all_cached(
    cache: dict[str, Any], content: Any, obj_type: type, paths: Sequence[str]
) -> list[ObjectProps]:
    """:func:`retrieve_all` through a ContainerView made once per ``cache``.

    ``cache`` is the agent's per-session dict: the view lives (on the server
    too) as long as the session, saving two round trips per discovery. A view
    the server no longer knows (a restarted vCenter that kept the session) is
    replaced once. Two threads racing here may both make one; the loser's
    view dies with the session.
    """
    key = f"collector.view.{obj_type.__name__}"
    for attempt in (1, 2):
        view = cache.get(key)
        if view is None:
            view = content.viewManager.CreateContainerView(
                container=content.rootFolder, type=[obj_type], recursive=True
            )
            view = cache.setdefault(key, view)
        try:
            return retrieve_all(content, obj_type, paths, view=view)
        except vmodl.fault.ManagedObjectNotFound as exc:
            if attempt == 2 or _moid(exc.obj) != _moid(view):
                raise
            cache.pop(key, None)
    raise AssertionError("unreachable")  # pragma: no cover


def _view_spec(view: Any, obj_type: type) -> Callable[[Sequence[str]], Any]:
    """A filter-spec builder reading ``obj_type`` objects through ``view``."""
    traverse = _PC.TraversalSpec(
        name="traverseView", type=vim.view.ContainerView, path="view", skip=False
    )
    object_spec = _PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])

    def spec(wanted: Sequence[str]) -> Any:
        prop_spec = _PC.PropertySpec(type=obj_type, all=False, pathSet=list(wanted))
        return _PC.FilterSpec(objectSet=[object_spec], propSet=[prop_spec])

    return spec


def find(
    content: Any,
    obj_type: type,
    match_paths: Sequence[str],
    values: Collection[str],
    paths: Sequence[str],
) -> dict[str, ObjectProps]:
    """Find objects of ``obj_type`` whose value of any of ``match_paths`` is in ``values``.

    Returns ``{value: object}`` for the values found (the first match in
    server order when several objects share a value), each with ``paths``
    read. Costs one paged query over the type's ``match_paths`` and, when
    ``paths`` asks for more than those, one more query for the matches.
    """
    wanted = set(values)
    found: dict[str, ObjectProps] = {}
    for obj in retrieve_all(content, obj_type, match_paths):
        for path in match_paths:
            value = obj.props.get(path)
            if isinstance(value, str) and value in wanted and value not in found:
                found[value] = obj
    if not found or set(paths) <= set(match_paths):
        return found
    unique = list({id(obj.ref): obj.ref for obj in found.values()}.values())
    detailed = {obj.ref._moId: obj for obj in retrieve(content, unique, paths)}
    out: dict[str, ObjectProps] = {}
    for value, obj in found.items():
        full = detailed.get(obj.ref._moId)
        if full is not None:
            # The match paths were read already; keep them alongside the rest.
            out[value] = ObjectProps(obj.ref, {**obj.props, **full.props})
    return out


def _query(
    content: Any,
    spec: Callable[[Sequence[str]], Any],
    paths: Sequence[str],
    *,
    page_objects: int | None = None,
) -> list[ObjectProps]:
    """Run one filter spec built by ``spec(paths)``, dropping paths the server calls invalid."""
    wanted = list(dict.fromkeys(paths))
    while True:
        try:
            return _retrieve_pages(content.propertyCollector, spec(wanted), page_objects)
        except vmodl.query.InvalidProperty as exc:
            remaining = _without(wanted, exc.name)
            if len(remaining) == len(wanted):
                raise
            log.debug("dropping invalid property path %r", exc.name)
            wanted = remaining


def _without(paths: list[str], bad: str | None) -> list[str]:
    """``paths`` minus ``bad`` and every path below it (the fault may name a prefix)."""
    if not bad:
        return paths
    return [p for p in paths if p != bad and not p.startswith(bad + ".")]


def _retrieve_pages(collector: Any, spec: Any, page_objects: int | None) -> list[ObjectProps]:
    options = _PC.RetrieveOptions(maxObjects=page_objects)
    result = collector.RetrievePropertiesEx(specSet=[spec], options=options)
    out: list[ObjectProps] = []
    while result is not None:
        out.extend(_objects(result.objects))
        if not result.token:
            break
        result = collector.ContinueRetrievePropertiesEx(token=result.token)
    return out


def _objects(contents: Iterable[Any]) -> Iterable[ObjectProps]:
    for oc in contents:
        props = {prop.name: prop.val for prop in oc.propSet}
        yield ObjectProps(oc.obj, props)


def _destroy_quietly(view: Any) -> None:
    try:
        view.DestroyView()
    except (vmodl.MethodFault, OSError) as exc:
        # The view dies with the session anyway; failing here must not hide
        # the query's own result or error.
        log.debug("could not destroy container view %s: %s", _moid(view), exc)


def _moid(ref: Any) -> str:
    return str(getattr(ref, "_moId", ref))
