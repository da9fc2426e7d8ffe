"""What VMware Tools report from inside a VM: guest disks, guest NICs and processes.

Disks (``guest.disk``) and NICs (``guest.net``) arrive with one property
query of the VM; each item becomes a row holding its identifying field
(``diskPath``, ``network``) and the requested ``properties``, which are
paths inside the item (``capacity``, ``freeSpace``, ``ipConfig.dhcp``...).
A VM whose Tools report nothing has no items: an empty list, not an error.
In a batch (several VMs named) each row also carries the VM's name as ``vm``.

Processes need guest operations: ``GuestOperationsManager.processManager``
``ListProcessesInGuest`` with the guest OS credentials of the request. The
password goes to the server and nowhere else (never into a log or a message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyVmomi import vim, vmodl

from vpoller.errors import NotSupportedError, ObjectNotFoundError, RequestError, VSphereError
from vpoller.request import success
from vpoller.vsphere import collector, objects
from vpoller.vsphere.serialize import attribute, to_json

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

VM = objects.OBJECT_TYPES["vm"]
TOOLS_RUNNING = "guestToolsRunning"
PROCESS_ALWAYS = "cmdLine"

# pyVmomi's generated classes are untyped.
_NamePasswordAuthentication: Any = vim.vm.guest.NamePasswordAuthentication


@dataclass(frozen=True)
class GuestItems:
    """A list property of ``vm.guest`` and the item field every row carries."""

    path: str
    always: str
    label: str  # for messages


DISKS = GuestItems("guest.disk", "diskPath", "guest disk")
NICS = GuestItems("guest.net", "network", "guest NIC")


def item_row(item: Any, always: str, properties: Sequence[str]) -> dict[str, Any]:
    """One guest item (disk, NIC, process) as a row: ``always`` first, then ``properties``."""
    paths = dict.fromkeys((always, *properties))
    return {path: to_json(attribute(item, path)) for path in paths}


def items(agent: VSphereAgent, kind: GuestItems, request: Request) -> Reply:
    """Every item of ``kind`` the VM(s) report, with the requested properties."""
    return success(_rows(agent, kind, request, match=None))


def item(agent: VSphereAgent, kind: GuestItems, request: Request) -> Reply:
    """The item whose identifying field equals ``key`` (every item without ``key``)."""
    rows = _rows(agent, kind, request, match=request.key)
    if request.key is not None and not rows and not request.is_batch:
        raise ObjectNotFoundError(
            f"Virtual machine '{_label(request)}' reports no {kind.label} '{request.key}'"
        )
    return success(rows)


def _rows(
    agent: VSphereAgent, kind: GuestItems, request: Request, match: str | None
) -> list[dict[str, Any]]:
    properties = request.properties or ()
    out: list[dict[str, Any]] = []
    for vm in objects.resolve(agent, VM, request, ("name", kind.path)):
        for entry in vm.props.get(kind.path) or ():
            if match is not None and attribute(entry, kind.always) != match:
                continue
            row = item_row(entry, kind.always, properties)
            out.append({"vm": vm.props.get("name"), **row} if request.is_batch else row)
    return out


def _label(request: Request) -> str:
    return request.names[0] if request.names else str(request.uuid or request.moref)


# -- processes ------------------------------------------------------------------


def processes(agent: VSphereAgent, request: Request) -> Reply:
    """The guest processes of one VM: ``cmdLine`` always, plus the requested fields."""
    if request.is_batch:
        raise RequestError("vm.process.get takes one virtual machine, not a list")
    if not request.username or request.password is None:
        raise RequestError("vm.process.get needs the guest OS 'username' and 'password'")
    manager = _process_manager(agent)
    (vm,) = objects.resolve(agent, VM, request, ("name", "guest.toolsRunningStatus"))
    name = vm.props.get("name")
    auth = _NamePasswordAuthentication(
        username=request.username, password=request.password, interactiveSession=False
    )
    try:
        found = manager.ListProcessesInGuest(vm=vm.ref, auth=auth, pids=None)
    except vmodl.MethodFault as exc:
        tools = vm.props.get("guest.toolsRunningStatus")
        raise process_error(exc, name, request.username, tools) from exc
    properties = request.properties or ()
    return success([item_row(process, PROCESS_ALWAYS, properties) for process in found or ()])


def _process_manager(agent: VSphereAgent) -> Any:
    """The server's guest ProcessManager, read through the property collector."""
    operations = agent.content.guestOperationsManager
    found = (
        collector.retrieve(agent.content, [operations], ("processManager",)) if operations else []
    )
    manager = found[0].props.get("processManager") if found else None
    if manager is None:
        raise NotSupportedError(
            f"{agent.host} has no guest operations process manager: "
            "guest process listing (ListProcessesInGuest) is not supported"
        )
    return manager


def process_error(fault: Any, vm_name: Any, username: str, tools_status: Any) -> VSphereError:
    """The error a ListProcessesInGuest fault means for the client (no credentials in it)."""
    if isinstance(fault, vmodl.fault.MethodNotFound | vmodl.fault.NotImplemented):
        return NotSupportedError(
            "The server does not implement guest process listing "
            "(ProcessManager.ListProcessesInGuest)"
        )
    if isinstance(fault, vmodl.fault.NotSupported):
        return NotSupportedError(
            f"Guest process listing (ListProcessesInGuest) is not supported for "
            f"virtual machine '{vm_name}'"
        )
    if isinstance(fault, vim.fault.InvalidGuestLogin | vim.fault.GuestPermissionDenied):
        return VSphereError(
            f"Guest login to virtual machine '{vm_name}' as '{username}' was refused"
        )
    if isinstance(fault, vim.fault.InvalidPowerState):
        return VSphereError(f"Virtual machine '{vm_name}' is not powered on")
    if isinstance(fault, vim.fault.GuestOperationsUnavailable | vim.fault.ToolsUnavailable):
        status = f" (toolsRunningStatus {tools_status})" if tools_status else ""
        return VSphereError(
            f"VMware Tools are not running in virtual machine '{vm_name}'{status}: "
            "guest operations are unavailable"
        )
    name = getattr(fault, "_wsdlName", type(fault).__name__)
    msg = getattr(fault, "msg", None)
    return VSphereError(
        f"Listing processes of virtual machine '{vm_name}' failed: {name}"
        + (f": {msg}" if msg else "")
    )
