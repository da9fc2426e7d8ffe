"""to_json: pyVmomi values built in memory -> plain JSON values."""

from __future__ import annotations

import datetime

import orjson
from pyVmomi import VmomiSupport, vim, vmodl

from vpoller.vsphere.serialize import to_json


def test_to_json_data_object_omits_unset_optional_fields() -> None:
    config = vim.vm.Summary.ConfigSummary(name="vm01", numCpu=2)
    out = to_json(config)
    assert out["numCpu"] == 2
    assert "memorySizeMB" not in out


def test_to_json_data_object_keeps_required_fields() -> None:
    # Required fields are always on the wire; pyVmomi defaults them ("" / False).
    config = vim.vm.Summary.ConfigSummary(name="vm01")
    assert to_json(config) == {"name": "vm01", "template": False, "vmPathName": ""}


def test_to_json_data_object_drops_dynamic_noise() -> None:
    about = vim.AboutInfo(name="vc", dynamicType="x")
    out = to_json(about)
    assert out["name"] == "vc"
    assert "dynamicType" not in out
    assert "dynamicProperty" not in out


def test_to_json_nested_data_objects_become_nested_dicts() -> None:
    summary = vim.vm.Summary(
        config=vim.vm.Summary.ConfigSummary(name="vm01", numCpu=2),
        runtime=vim.vm.RuntimeInfo(powerState="poweredOn", connectionState="connected"),
    )
    out = to_json(summary)
    assert out["config"]["numCpu"] == 2
    assert out["runtime"]["powerState"] == "poweredOn"


def test_to_json_managed_object_becomes_moref_id() -> None:
    assert to_json(vim.VirtualMachine("vm-42")) == "vm-42"


def test_to_json_reference_inside_data_object_becomes_moref_id() -> None:
    runtime = vim.vm.RuntimeInfo(host=vim.HostSystem("host-7"), powerState="poweredOff")
    assert to_json(runtime)["host"] == "host-7"


def test_to_json_array_of_references_becomes_list_of_ids() -> None:
    refs = VmomiSupport.CreateArrayType(vim.Datastore)(
        [vim.Datastore("datastore-1"), vim.Datastore("datastore-2")]
    )
    assert to_json(refs) == ["datastore-1", "datastore-2"]


def test_to_json_datetime_becomes_iso8601() -> None:
    when = datetime.datetime(2024, 5, 1, 12, 30, 5, tzinfo=datetime.UTC)
    assert to_json(when) == "2024-05-01T12:30:05+00:00"


def test_to_json_enum_becomes_plain_str() -> None:
    out = to_json(vim.VirtualMachine.PowerState.poweredOn)
    assert out == "poweredOn"
    assert type(out) is str


def test_to_json_vmodl_long_becomes_plain_int() -> None:
    out = to_json(VmomiSupport.long(270553174016))
    assert out == 270553174016
    assert type(out) is int


def test_to_json_binary_becomes_base64() -> None:
    assert to_json(VmomiSupport.binary(b"\x00\xffvp")) == "AP92cA=="


def test_to_json_fault_becomes_dict_with_message() -> None:
    fault = vim.fault.InvalidLogin(msg="Login failure")
    assert to_json(fault) == {"msg": "Login failure", "faultMessage": []}


def test_to_json_empty_array_field_is_kept() -> None:
    info = vim.vm.ConfigInfo(name="vm01")
    assert to_json(info)["extraConfig"] == []


def test_to_json_type_becomes_vmodl_name() -> None:
    assert to_json(vim.VirtualMachine) == "vim.VirtualMachine"


def test_to_json_key_any_value_list_round_trips_through_orjson() -> None:
    values = [vmodl.KeyAnyValue(key="a", value=1), vmodl.KeyAnyValue(key="b", value="x")]
    assert orjson.loads(orjson.dumps(to_json(values))) == [
        {"key": "a", "value": 1},
        {"key": "b", "value": "x"},
    ]


def test_to_json_dict_values_are_converted() -> None:
    assert to_json({"host": vim.HostSystem("host-1"), "n": None}) == {"host": "host-1", "n": None}
