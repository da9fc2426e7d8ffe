"""Row conversions of the alarm, snapshot, guest and relationship tasks, on in-memory objects."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from pyVmomi import vim, vmodl

from vpoller.errors import NotSupportedError
from vpoller.vsphere import alarms, guest, relations, snapshots

pytestmark = pytest.mark.timeout(10)

WHEN = datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC)


def _state(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "key": "alarm-7.vm-42",
        "alarm": vim.alarm.Alarm("alarm-7"),
        "entity": vim.VirtualMachine("vm-42"),
        "overallStatus": "red",
        "time": WHEN,
        "acknowledged": True,
        "acknowledgedByUser": "admin",
    }
    fields.update(overrides)
    return vim.alarm.AlarmState(**fields)


def _tree(name: str, *children: Any) -> Any:
    return vim.vm.SnapshotTree(
        name=name,
        description=f"about {name}",
        id=len(name),
        createTime=WHEN,
        state="poweredOff",
        quiesced=False,
        childSnapshotList=list(children),
    )


def test_alarm_row_has_spec_shape() -> None:
    row = alarms.alarm_row(_state(), {"alarm-7": "VM CPU usage"}, {"vm-42": "vm01"})
    assert row == {
        "key": "alarm-7.vm-42",
        "info": "VM CPU usage",
        "time": "2024-05-01T10:00:00+00:00",
        "entity": "vm01",
        "acknowledged": True,
        "overallStatus": "red",
        "acknowledgedByUser": "admin",
    }


def test_alarm_row_unknown_names_fall_back_to_moref() -> None:
    row = alarms.alarm_row(_state(acknowledgedByUser=None), {}, {})
    assert (row["info"], row["entity"], row["acknowledgedByUser"]) == ("alarm-7", "vm-42", None)


def test_snapshot_walk_visits_every_depth_parents_first() -> None:
    trees = [_tree("a", _tree("b", _tree("c")), _tree("d")), _tree("e")]
    assert [node.name for node in snapshots.walk(trees)] == ["a", "b", "c", "d", "e"]


def test_snapshot_row_has_spec_fields() -> None:
    assert snapshots.snapshot_row(_tree("s1")) == {
        "createTime": "2024-05-01T10:00:00+00:00",
        "description": "about s1",
        "id": 2,
        "name": "s1",
        "quiesced": False,
        "state": "poweredOff",
    }


def test_guest_item_row_always_key_first_then_properties() -> None:
    disk = vim.vm.GuestInfo.DiskInfo(diskPath="C:\\", capacity=100, freeSpace=40)
    row = guest.item_row(disk, "diskPath", ("freeSpace", "capacity", "noSuch"))
    assert list(row.items()) == [
        ("diskPath", "C:\\"),
        ("freeSpace", 40),
        ("capacity", 100),
        ("noSuch", None),
    ]


def test_process_error_method_not_found_names_capability() -> None:
    error = guest.process_error(vmodl.fault.MethodNotFound(), "vm01", "root", None)
    assert isinstance(error, NotSupportedError)
    assert "ListProcessesInGuest" in str(error)


def test_process_error_tools_not_running_is_its_own_error() -> None:
    fault = vim.fault.GuestOperationsUnavailable()
    error = guest.process_error(fault, "vm01", "root", "guestToolsNotRunning")
    assert not isinstance(error, NotSupportedError)
    assert str(error) == (
        "VMware Tools are not running in virtual machine 'vm01' "
        "(toolsRunningStatus guestToolsNotRunning): guest operations are unavailable"
    )


def test_process_error_bad_login_names_user_only() -> None:
    error = guest.process_error(vim.fault.InvalidGuestLogin(), "vm01", "root", None)
    assert str(error) == "Guest login to virtual machine 'vm01' as 'root' was refused"


def test_relations_cover_every_spec_method() -> None:
    assert set(relations.RELATIONS) == {
        "net.host.get",
        "net.vm.get",
        "resource.pool.vm.get",
        "host.cluster.get",
        "host.vm.get",
        "host.net.get",
        "host.datastore.get",
        "vm.host.get",
        "vm.net.get",
        "vm.datastore.get",
        "datastore.host.get",
        "datastore.vm.get",
    }


def test_relation_datastore_host_follows_mount_keys() -> None:
    mounts = [vim.Datastore.HostMount(key=vim.HostSystem("host-1")), vim.Datastore.HostMount()]
    refs = relations.RELATIONS["datastore.host.get"].references(mounts)
    assert [ref._moId for ref in refs] == ["host-1"]
