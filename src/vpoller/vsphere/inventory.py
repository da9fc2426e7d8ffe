"""The inventory index of one agent session: name, uuid and moref -> object, kept live.

Looking an object up by name used to mean reading the name of every object of
its type on each request. :class:`Inventory` instead keeps, per session, an
index of the seven object types fed by the property collector's update
stream: a private PropertyCollector (``CreatePropertyCollector``, destroyed
when the index closes) with one filter over a ContainerView of the root
folder, read by ``WaitForUpdatesEx`` on a background thread. Objects created,
renamed or removed in vCenter are visible to lookups after the next update
(the simulator batches changes every 250 ms; vCenter is as quick).

Indexed per type: ``name``; ``config.uuid`` and ``config.instanceUuid`` of
VMs; ``hardware.systemInfo.uuid`` of hosts; ``info.url`` of datastores; and
the moref of every object. Names (and even uuids) are not unique: every
object holding a value is kept, and a lookup answers the one with the
smallest moref id (compared as length, then text, so ``vm-9`` comes before
``vm-10``): the oldest object in vCenter's numbering, stable across restarts
of the index.

The live property mirror: the ``[mirror]`` paths configured per type ride on
the same filter, and their values (already converted to JSON) are kept per
object, so ``*.get`` and ``*.discover`` asking only for tracked paths are
answered from memory (:meth:`Inventory.mirrors`). ``age_s`` is the time since
the stream last answered (an update or a wait that found no change).

The index is built lazily, on the first lookup of a session: that first
request does not wait for it but falls back to a scan, as every lookup does
while the index is loading or after its stream broke (it starts over on its
own). This keeps ``about``-only agents free of the cost and the first lookup
no slower than before. All public methods are thread-safe.
"""

from __future__ import annotations

import bisect
import http.client
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyVmomi import vim, vmodl

from vpoller.vsphere.serialize import to_json

if TYPE_CHECKING:
    from vpoller.vsphere.agent import VSphereAgent

log = logging.getLogger(__name__)

# Key of the index among the session's resources (VSphereAgent.resource).
INVENTORY_RESOURCE = "inventory"

# maxWaitSeconds of one WaitForUpdatesEx: how long close() may take to be
# noticed, and the floor of the mirror's age when nothing changes.
INVENTORY_WAIT_S = 1
# Pause before starting the stream again after it failed.
INVENTORY_RETRY_S = 2.0
# The mirror answers only while the stream answered this recently; an older
# mirror may be stuck, and requests read vCenter instead.
MIRROR_STALE_S = 10.0

_PC: Any = vmodl.query.PropertyCollector

# Object type key (as in vpoller.vsphere.objects) -> vim type and indexed paths.
INDEXED: dict[str, tuple[type, tuple[str, ...]]] = {
    "datacenter": (vim.Datacenter, ("name",)),
    "cluster": (vim.ClusterComputeResource, ("name",)),
    "resource.pool": (vim.ResourcePool, ("name",)),
    "host": (vim.HostSystem, ("name", "hardware.systemInfo.uuid")),
    "vm": (vim.VirtualMachine, ("name", "config.uuid", "config.instanceUuid")),
    "datastore": (vim.Datastore, ("name", "info.url")),
    "net": (vim.Network, ("name",)),
}
# The paths a `uuid` lookup matches, in order (BIOS uuid first, as SearchIndex does).
UUID_PATHS: dict[str, tuple[str, ...]] = {
    "vm": ("config.uuid", "config.instanceUuid"),
    "host": ("hardware.systemInfo.uuid",),
}

# Values remembered as matching no object (see Inventory.note_missing).
MISSING_LIMIT = 10_000

# Errors that end one run of the update stream; it starts over after a pause.
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    vmodl.MethodFault,
    OSError,
    http.client.HTTPException,
)


def moref_order(moid: str) -> tuple[int, str]:
    """Sort key of moref ids: numeric suffixes in numeric order (``vm-9`` < ``vm-10``)."""
    return (len(moid), moid)


@dataclass(slots=True)
class _Entry:
    ref: Any
    kind: str
    props: dict[str, Any] = field(default_factory=dict)  # path -> JSON value


class Inventory:
    """The live index of one session; :meth:`close` stops its thread."""

    def __init__(self, content: Any, mirror: Mapping[str, Sequence[str]] | None = None) -> None:
        self._content = content
        self._mirror = {k: tuple(v) for k, v in (mirror or {}).items() if k in INDEXED and v}
        self._tracked = {
            kind: frozenset((*paths, *self._mirror.get(kind, ())))
            for kind, (_, paths) in INDEXED.items()
        }
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}  # moref id -> entry
        # kind -> path -> value -> moref ids in moref_order
        self._by: dict[str, dict[str, dict[str, list[str]]]] = {
            kind: {path: {} for path in paths} for kind, (_, paths) in INDEXED.items()
        }
        self._kind_of_class: dict[type, str | None] = {}
        # kind -> count of changes to its indexed values (enter, leave, rename)
        self._generation = dict.fromkeys(INDEXED, 0)
        # (kind, value) -> generation when a scan confirmed nothing holds it
        self._missing: dict[tuple[str, str], int] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._polled = 0.0  # monotonic time the stream last answered
        self._runs = 0
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="vpoller-inventory", daemon=True)
        self._thread.start()

    # -- lookups -------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the initial load finished (and the stream has not failed since)."""
        return self._ready.is_set()

    def wait_ready(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for :attr:`ready`; for tests and benchmarks."""
        return self._ready.wait(timeout_s)

    def find(self, kind: str, paths: Sequence[str], values: Iterable[str]) -> dict[str, Any]:
        """``{value: object reference}`` of objects of ``kind`` holding a value.

        Each value is matched against ``paths`` in order; the first path with
        a match wins, and of several objects the first in :func:`moref_order`.
        """
        out: dict[str, Any] = {}
        with self._lock:
            by = self._by[kind]
            for value in values:
                for path in paths:
                    ids = by[path].get(value)
                    if ids:
                        out[value] = self._entries[ids[0]].ref
                        break
        return out

    def known_missing(self, kind: str, value: str) -> bool:
        """True when a scan found no object with ``value`` and the index has not changed since."""
        with self._lock:
            return self._missing.get((kind, value)) == self._generation[kind]

    def generation(self, kind: str) -> int:
        """How many times indexed values of ``kind`` changed; read it before a scan."""
        with self._lock:
            return self._generation[kind]

    def note_missing(self, kind: str, values: Iterable[str], generation: int) -> None:
        """Remember that a scan begun at ``generation`` found none of ``values``.

        The memory lasts until the kind's index changes (a scan that raced a
        change is thus never trusted).
        """
        with self._lock:
            if len(self._missing) >= MISSING_LIMIT:
                self._missing.clear()
            for value in values:
                self._missing[(kind, value)] = generation

    def mirrors(self, kind: str, paths: Sequence[str]) -> bool:
        """True when the mirror is on for ``kind``, current, and tracks every path."""
        if kind not in self._mirror or not self._ready.is_set():
            return False
        if time.monotonic() - self._polled > MIRROR_STALE_S:
            return False
        return self._tracked[kind].issuperset(paths)

    def row(self, kind: str, moid: str, paths: Sequence[str]) -> dict[str, Any] | None:
        """The tracked values of one object as a result row; None when not in the index."""
        with self._lock:
            entry = self._entries.get(moid)
            if entry is None or entry.kind != kind:
                return None
            props = entry.props
            return {path: props.get(path) for path in paths}

    def rows(self, kind: str, paths: Sequence[str]) -> list[dict[str, Any]]:
        """Result rows of every object of ``kind``, in :func:`moref_order`."""
        with self._lock:
            entries = [e for e in self._entries.values() if e.kind == kind]
            entries.sort(key=lambda e: moref_order(e.ref._moId))
            return [{path: e.props.get(path) for path in paths} for e in entries]

    def status(self) -> dict[str, Any]:
        """For the worker's status: readiness, size, mirror and the stream's age."""
        with self._lock:
            objects = len(self._entries)
        polled = self._polled
        return {
            "ready": self.ready,
            "objects": objects,
            "age_s": round(time.monotonic() - polled, 2) if polled else None,
            "mirror": {kind: list(paths) for kind, paths in self._mirror.items()},
            "restarts": max(0, self._runs - 1),
            "last_error": self._error,
        }

    def close(self) -> None:
        """Stop the stream; the thread destroys its collector and view within a wait."""
        self._stop.set()
        self._ready.clear()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread to end; True when it did."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the update stream ---------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._runs += 1
            collector = view = None
            try:
                collector = self._content.propertyCollector.CreatePropertyCollector()
                view = self._content.viewManager.CreateContainerView(
                    container=self._content.rootFolder,
                    type=[vim_type for vim_type, _ in INDEXED.values()],
                    recursive=True,
                )
                self._create_filter(collector, view)
                self._follow(collector)
            except _STREAM_ERRORS as exc:
                if not self._stop.is_set():
                    self._error = f"{type(exc).__name__}: {getattr(exc, 'msg', None) or exc}"
                    log.warning("inventory update stream failed (%s); restarting", self._error)
            except Exception:
                # A bug here must not leave lookups on a silently frozen index:
                # log it and start over, as for a broken stream.
                log.exception("inventory update stream failed unexpectedly")
            finally:
                self._ready.clear()
                _destroy_quietly(collector, "DestroyPropertyCollector")
                _destroy_quietly(view, "DestroyView")
            self._stop.wait(INVENTORY_RETRY_S)
        # The session has ended (close() is called only then): close the
        # connections this thread used and returned to the session's pool.
        self._content.propertyCollector._stub.DropConnections()

    def _create_filter(self, collector: Any, view: Any) -> None:
        """One filter over the view; paths the server calls invalid are dropped."""
        wanted = {kind: list(dict.fromkeys(self._tracked_paths(kind))) for kind in INDEXED}
        traverse = _PC.TraversalSpec(
            name="traverseView", type=vim.view.ContainerView, path="view", skip=False
        )
        object_spec = _PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])
        while True:
            prop_set = [
                _PC.PropertySpec(type=INDEXED[kind][0], all=False, pathSet=paths)
                for kind, paths in wanted.items()
            ]
            spec = _PC.FilterSpec(objectSet=[object_spec], propSet=prop_set)
            try:
                collector.CreateFilter(spec, partialUpdates=False)
                return
            except vmodl.query.InvalidProperty as exc:
                bad = exc.name
                pruned = {
                    k: [p for p in v if p != bad and not p.startswith(f"{bad}.")]
                    for k, v in wanted.items()
                }
                if not bad or pruned == wanted:
                    raise
                log.warning("mirror: vCenter rejects property path %r; not mirrored", bad)
                wanted = pruned

    def _tracked_paths(self, kind: str) -> tuple[str, ...]:
        return (*INDEXED[kind][1], *self._mirror.get(kind, ()))

    def _follow(self, collector: Any) -> None:
        with self._lock:
            self._entries.clear()
            for by_path in self._by.values():
                for index in by_path.values():
                    index.clear()
        version = ""
        options = _PC.WaitOptions(maxWaitSeconds=INVENTORY_WAIT_S)
        started = time.monotonic()
        while not self._stop.is_set():
            update = collector.WaitForUpdatesEx(version=version, options=options)
            if self._stop.is_set():
                return
            if update is not None:
                self._apply(update)
                version = update.version
            self._polled = time.monotonic()
            if (update is None or not update.truncated) and not self._ready.is_set():
                self._ready.set()
                self._error = None
                log.info(
                    "inventory index ready: %d objects in %.2f s",
                    len(self._entries),
                    time.monotonic() - started,
                )

    def _apply(self, update: Any) -> None:
        with self._lock:
            for filter_update in update.filterSet:
                for change in filter_update.objectSet:
                    self._apply_object(change)

    def _apply_object(self, change: Any) -> None:
        ref = change.obj
        moid = ref._moId
        if change.kind == "leave":
            entry = self._entries.pop(moid, None)
            if entry is not None:
                self._generation[entry.kind] += 1
                for path in INDEXED[entry.kind][1]:
                    self._unindex(entry, path)
            return
        entry = self._entries.get(moid)
        if entry is None:
            kind = self._kind(type(ref))
            if kind is None:
                return
            entry = self._entries[moid] = _Entry(ref, kind)
        indexed = INDEXED[entry.kind][1]
        for prop in change.changeSet:
            path = prop.name
            if path in indexed:
                self._generation[entry.kind] += 1
                self._unindex(entry, path)
            if prop.op in ("remove", "indirectRemove"):
                entry.props.pop(path, None)
                continue
            value = to_json(prop.val)
            entry.props[path] = value
            if path in indexed and isinstance(value, str):
                ids = self._by[entry.kind][path].setdefault(value, [])
                bisect.insort(ids, moid, key=moref_order)

    def _unindex(self, entry: _Entry, path: str) -> None:
        old = entry.props.get(path)
        if not isinstance(old, str):
            return
        index = self._by[entry.kind][path]
        ids = index.get(old)
        if ids and entry.ref._moId in ids:
            ids.remove(entry.ref._moId)
            if not ids:
                del index[old]

    def _kind(self, cls: type) -> str | None:
        if cls not in self._kind_of_class:
            self._kind_of_class[cls] = next(
                (kind for kind, (vim_type, _) in INDEXED.items() if issubclass(cls, vim_type)),
                None,
            )
        return self._kind_of_class[cls]


def _destroy_quietly(obj: Any, method: str) -> None:
    if obj is None:
        return
    try:
        getattr(obj, method)()
    except _STREAM_ERRORS as exc:
        # The server drops both with the session; failing here changes nothing.
        log.debug("inventory: %s of %s failed: %s", method, getattr(obj, "_moId", obj), exc)


def of(agent: VSphereAgent) -> Inventory:
    """The inventory index of ``agent``'s current session, started on first use."""
    return agent.resource(
        INVENTORY_RESOURCE, lambda content: Inventory(content, agent.mirror), Inventory
    )
