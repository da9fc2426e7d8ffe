"""The newest event of the vSphere server, without reading ``EventManager.latestEvent``.

``latestEvent`` crashes the govmomi simulator's connection, so the event is
taken from an EventHistoryCollector instead, which every vCenter and ESXi
supports: the collector's ``latestPage`` (read through the property
collector) holds the newest events, unordered; the one with the largest key
is the latest. The page keeps its default size (10 on vCenter): the
simulator's history is a ring whose pages of another size can miss the
newest event. The collector is destroyed afterwards, also on failure, as the
server keeps a small number of them per session.
"""

from __future__ import annotations

import logging
from typing import Any

from pyVmomi import vim, vmodl

from vpoller.vsphere import collector

log = logging.getLogger(__name__)

_EventFilterSpec: Any = vim.event.EventFilterSpec


def latest_event(content: Any) -> Any:
    """The newest ``vim.event.Event`` on the server, or None when there is none."""
    history = content.eventManager.CreateCollectorForEvents(filter=_EventFilterSpec())
    try:
        found = collector.retrieve(content, [history], ("latestPage",))
    finally:
        _destroy_quietly(history)
    page = found[0].props.get("latestPage") if found else None
    return max(page, key=lambda event: event.key) if page else None


def _destroy_quietly(history: Any) -> None:
    try:
        history.DestroyCollector()
    except (vmodl.MethodFault, OSError) as exc:
        # The collector dies with the session anyway; failing here must not
        # hide the query's own result or error.
        log.debug("could not destroy event collector: %s", exc)
