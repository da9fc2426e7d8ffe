"""Task methods about the vSphere service itself rather than one inventory object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vpoller.request import success
from vpoller.vsphere.serialize import to_json
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

ABOUT_DEFAULT_PROPERTIES = ("fullName",)


@task("about")
def about(agent: VSphereAgent, request: Request) -> Reply:
    """Attributes of the service's about info: ``[{property: value, ...}]``.

    The about info arrives with the session's service content, so this costs
    no round trip; an attribute the server does not have is null.
    """
    info = agent.content.about
    props = request.properties or ABOUT_DEFAULT_PROPERTIES
    row: dict[str, Any] = {prop: to_json(_attribute(info, prop)) for prop in props}
    return success([row])


def _attribute(obj: Any, path: str) -> Any:
    """``obj`` followed along the dotted ``path``; None when a step is missing."""
    for part in path.split("."):
        if part.startswith("_"):
            return None
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
