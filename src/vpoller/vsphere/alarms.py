"""``<type>.alarm.get``: the triggered alarms of datacenters, clusters, hosts, VMs, datastores.

An entity's ``triggeredAlarmState`` lists the alarms triggered on it and on
its descendants. One query (through :func:`objects.resolve`) reads those
states of every requested object; one more reads the alarms' names and, when
an alarm fired on a descendant, one more that entity's name. Each alarm state
becomes one row (SPEC.md)::

    {"key": "alarm-7.vm-42", "info": "Virtual machine CPU usage",
     "time": "2024-05-01T10:00:00+00:00", "entity": "vm01",
     "acknowledged": false, "overallStatus": "red", "acknowledgedByUser": null}

``name`` may be a batch; an alarm state seen through several requested
objects (a VM's alarm is also its datacenter's) is reported once, and its
``entity`` says where it fired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vpoller.request import SUCCESS_MSG, success
from vpoller.vsphere import collector, objects
from vpoller.vsphere.serialize import to_json

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent
    from vpoller.vsphere.objects import ObjectType

ALARM_STATE_PATH = "triggeredAlarmState"


def get(agent: VSphereAgent, otype: ObjectType, request: Request) -> Reply:
    """The triggered alarms of the object(s) the request names."""
    sources = objects.resolve(agent, otype, request, ("name", ALARM_STATE_PATH))
    names = {obj.ref._moId: obj.props.get("name") for obj in sources}
    states: dict[str, Any] = {}
    for source in sources:
        for state in source.props.get(ALARM_STATE_PATH) or ():
            states.setdefault(state.key, state)
    alarms = _refs(state.alarm for state in states.values())
    alarm_names = {
        obj.ref._moId: obj.props.get("info.name")
        for obj in collector.retrieve(agent.content, alarms, ("info.name",))
    }
    others = _refs(state.entity for state in states.values() if state.entity is not None)
    others = [ref for ref in others if ref._moId not in names]
    names.update(
        (obj.ref._moId, obj.props.get("name"))
        for obj in collector.retrieve(agent.content, others, ("name",))
    )
    rows = [alarm_row(state, alarm_names, names) for state in states.values()]
    return success(rows, objects.found_message(SUCCESS_MSG, sources))


def alarm_row(
    state: Any, alarm_names: Mapping[str, Any], entity_names: Mapping[str, Any]
) -> dict[str, Any]:
    """One ``vim.alarm.AlarmState`` as a result row; names looked up by moref id.

    An alarm or entity whose name is unknown is reported by its moref id.
    """
    return {
        "key": to_json(state.key),
        "info": _name(state.alarm, alarm_names),
        "time": to_json(state.time),
        "entity": _name(state.entity, entity_names),
        "acknowledged": to_json(state.acknowledged),
        "overallStatus": to_json(state.overallStatus),
        "acknowledgedByUser": to_json(state.acknowledgedByUser),
    }


def _name(ref: Any, names: Mapping[str, Any]) -> Any:
    if ref is None:
        return None
    name = names.get(ref._moId)
    return name if name is not None else ref._moId


def _refs(refs: Any) -> list[Any]:
    """Distinct references by moref id, first occurrence kept."""
    unique: dict[str, Any] = {}
    for ref in refs:
        if ref is not None:
            unique.setdefault(ref._moId, ref)
    return list(unique.values())
