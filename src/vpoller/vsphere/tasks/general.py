"""Task methods about the vSphere service itself rather than one inventory object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vpoller.request import success
from vpoller.vsphere import collector, events
from vpoller.vsphere.serialize import attribute, to_json
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

ABOUT_DEFAULT_PROPERTIES = ("fullName",)
SESSION_FIELDS = (
    "key",
    "userName",
    "fullName",
    "loginTime",
    "lastActiveTime",
    "ipAddress",
    "userAgent",
    "callCount",
)


def _about_row(content: Any, request: Request) -> Reply:
    info = content.about
    props = request.properties or ABOUT_DEFAULT_PROPERTIES
    row: dict[str, Any] = {prop: to_json(attribute(info, prop)) for prop in props}
    return success([row])


def _about_from_memory(agent: VSphereAgent, request: Request) -> Reply | None:
    content = agent.open_content
    return None if content is None else _about_row(content, request)


@task("about", peek=_about_from_memory)
def about(agent: VSphereAgent, request: Request) -> Reply:
    """Attributes of the service's about info: ``[{property: value, ...}]``.

    The about info arrives with the session's service content, so this costs
    no round trip (and, with a session open, is answered on the worker's I/O
    thread); an attribute the server does not have is null.
    """
    return _about_row(agent.content, request)


@task("event.latest")
def event_latest(agent: VSphereAgent, request: Request) -> Reply:
    """The newest event's full formatted message: ``[{"event": "..."}]`` (``[]`` when none)."""
    event = events.latest_event(agent.content)
    if event is None:
        return success([])
    return success([{"event": to_json(event.fullFormattedMessage)}])


@task("session.get")
def session_get(agent: VSphereAgent, request: Request) -> Reply:
    """The sessions established on the server, one row of :data:`SESSION_FIELDS` each."""
    manager = agent.content.sessionManager
    found = collector.retrieve(agent.content, [manager], ("sessionList",))
    sessions = (found[0].props.get("sessionList") if found else None) or ()
    return success(
        [{field: to_json(getattr(s, field, None)) for field in SESSION_FIELDS} for s in sessions]
    )
