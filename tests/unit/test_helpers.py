"""Unit tests of the result helpers and their loader (vpoller.helpers)."""

from __future__ import annotations

import csv
import io
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpoller.errors import HelperError
from vpoller.helpers import apply_helper, cclient, csvhelper, czabbix, load_helpers, zabbix
from vpoller.request import Reply, Request, failure, success

ZABBIX = "vpoller.helpers.zabbix"
TRICKY_NAME = 'vm "quoted" \\back\\slash, comma\nnewline ünïcødé 名前 😀'


def make_request(method: str, **keys: Any) -> Request:
    return Request.from_object({"method": method, "hostname": "vc01", **keys})


def zabbix_data(output: str) -> list[dict[str, Any]]:
    parsed = json.loads(output)
    assert list(parsed) == ["data"]
    data: list[dict[str, Any]] = parsed["data"]
    return data


def csv_rows(output: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(output, newline="")))


# --- zabbix: discovery ---------------------------------------------------------------------


def test_zabbix_discover_makes_lld_with_type_and_upper_cased_property_macros() -> None:
    request = make_request("vm.discover", properties=["name", "runtime.powerState"])
    reply = success(
        [
            {"name": "vm01", "runtime.powerState": "poweredOn"},
            {"name": "vm02", "runtime.powerState": "poweredOff"},
        ]
    )
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.VM.NAME}": "vm01", "{#VSPHERE.VM.RUNTIME.POWERSTATE}": "poweredOn"},
        {"{#VSPHERE.VM.NAME}": "vm02", "{#VSPHERE.VM.RUNTIME.POWERSTATE}": "poweredOff"},
    ]


def test_zabbix_vm_disk_discover_uses_object_type_in_macro() -> None:
    request = make_request("vm.disk.discover", name="vm01")
    reply = success([{"diskPath": "/"}, {"diskPath": "C:\\"}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.VM.DISKPATH}": "/"},
        {"{#VSPHERE.VM.DISKPATH}": "C:\\"},
    ]


def test_zabbix_resource_pool_discover_keeps_two_part_type() -> None:
    request = make_request("resource.pool.discover")
    reply = success([{"name": "pool1"}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.RESOURCE.POOL.NAME}": "pool1"}
    ]


def test_zabbix_datastore_discover_keeps_dots_of_info_url() -> None:
    request = make_request("datastore.discover")
    reply = success([{"name": "ds1", "info.url": "ds:///vmfs/volumes/1/"}])
    data = zabbix_data(zabbix.format(request, reply))
    assert data == [
        {
            "{#VSPHERE.DATASTORE.NAME}": "ds1",
            "{#VSPHERE.DATASTORE.INFO.URL}": "ds:///vmfs/volumes/1/",
        }
    ]


def test_zabbix_relationship_get_makes_lld_named_for_object_type() -> None:
    request = make_request("host.vm.get", name="esx01")
    reply = success([{"name": "vm01"}, {"name": "vm02"}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.HOST.NAME}": "vm01"},
        {"{#VSPHERE.HOST.NAME}": "vm02"},
    ]


def test_zabbix_typeless_method_uses_method_without_last_part() -> None:
    request = make_request("perf.interval.info")
    reply = success([{"key": 1, "name": "Past day", "enabled": True}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {
            "{#VSPHERE.PERF.INTERVAL.KEY}": 1,
            "{#VSPHERE.PERF.INTERVAL.NAME}": "Past day",
            "{#VSPHERE.PERF.INTERVAL.ENABLED}": True,
        }
    ]


def test_zabbix_single_object_alarm_list_is_still_discovery() -> None:
    request = make_request("vm.alarm.get", name="vm01")
    reply = success([{"key": "alarm-1", "overallStatus": "red"}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.VM.KEY}": "alarm-1", "{#VSPHERE.VM.OVERALLSTATUS}": "red"}
    ]


def test_zabbix_discovery_empty_result_is_empty_data() -> None:
    request = make_request("vm.discover")
    assert json.loads(zabbix.format(request, success([]))) == {"data": []}


def test_zabbix_discovery_nested_and_null_values_become_text() -> None:
    request = make_request("host.discover")
    reply = success([{"name": "esx01", "summary.hardware": {"cpu": 8}, "tags": [1, 2], "x": None}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {
            "{#VSPHERE.HOST.NAME}": "esx01",
            "{#VSPHERE.HOST.SUMMARY.HARDWARE}": '{"cpu":8}',
            "{#VSPHERE.HOST.TAGS}": "[1,2]",
            "{#VSPHERE.HOST.X}": "",
        }
    ]


def test_zabbix_discovery_replaces_characters_zabbix_macros_forbid() -> None:
    request = make_request("vm.discover")
    reply = success([{"config.extra-config[0]": "v"}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.VM.CONFIG.EXTRA_CONFIG_0_}": "v"}
    ]


def test_zabbix_discovery_tricky_names_survive_as_valid_json() -> None:
    request = make_request("vm.discover")
    output = zabbix.format(request, success([{"name": TRICKY_NAME}]))
    assert "ünïcødé 名前 😀" in output  # not \u-escaped
    assert zabbix_data(output) == [{"{#VSPHERE.VM.NAME}": TRICKY_NAME}]


def test_zabbix_batched_get_of_several_objects_is_discovery() -> None:
    request = make_request("vm.get", name=["vm01", "vm02"], properties=["runtime.powerState"])
    reply = success([{"name": "vm01", "runtime.powerState": "on"}, {"name": "vm02"}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.VM.NAME}": "vm01", "{#VSPHERE.VM.RUNTIME.POWERSTATE}": "on"},
        {"{#VSPHERE.VM.NAME}": "vm02"},
    ]


@given(names=st.lists(st.text(), max_size=5), prop=st.text(max_size=20))
def test_zabbix_discovery_round_trips_arbitrary_unicode_names(names: list[str], prop: str) -> None:
    request = make_request("vm.discover")
    reply = success([{"name": name, prop or "x": name} for name in names])
    data = zabbix_data(zabbix.format(request, reply))
    assert [row["{#VSPHERE.VM.NAME}"] for row in data] == names
    for row in data:
        assert all(macro.startswith("{#VSPHERE.VM.") and macro.endswith("}") for macro in row)


# --- zabbix: single values -----------------------------------------------------------------


def test_zabbix_get_returns_bare_string_of_first_requested_property() -> None:
    request = make_request("vm.get", name="vm01", properties=["runtime.powerState", "name"])
    reply = success([{"name": "vm01", "runtime.powerState": "poweredOn"}])
    assert zabbix.format(request, reply) == "poweredOn"


def test_zabbix_get_returns_number_as_json_number() -> None:
    request = make_request(
        "host.get", name="esx01", properties=["summary.quickStats.overallCpuUsage"]
    )
    reply = success([{"name": "esx01", "summary.quickStats.overallCpuUsage": 1234.5}])
    assert zabbix.format(request, reply) == "1234.5"


def test_zabbix_get_returns_boolean_as_json() -> None:
    request = make_request("vm.get", name="vm01", properties=["guest.toolsRunning"])
    reply = success([{"name": "vm01", "guest.toolsRunning": False}])
    assert zabbix.format(request, reply) == "false"


def test_zabbix_get_returns_nested_value_as_json_text() -> None:
    request = make_request("vm.get", name="vm01", properties=["config.hardware"])
    reply = success([{"name": "vm01", "config.hardware": {"numCPU": 2, "memoryMB": 2048}}])
    assert json.loads(zabbix.format(request, reply)) == {"numCPU": 2, "memoryMB": 2048}


def test_zabbix_get_returns_empty_string_for_null_property() -> None:
    request = make_request("vm.get", name="vm01", properties=["guest.ipAddress"])
    reply = success([{"name": "vm01", "guest.ipAddress": None}])
    assert zabbix.format(request, reply) == ""


def test_zabbix_get_returns_empty_string_for_missing_property() -> None:
    request = make_request("vm.get", name="vm01", properties=["guest.ipAddress"])
    assert zabbix.format(request, success([{"name": "vm01"}])) == ""


def test_zabbix_get_returns_tricky_string_unchanged() -> None:
    request = make_request("vm.get", name="x", properties=["config.annotation"])
    reply = success([{"name": "x", "config.annotation": TRICKY_NAME}])
    assert zabbix.format(request, reply) == TRICKY_NAME


def test_zabbix_about_without_properties_returns_first_key_that_is_not_name() -> None:
    request = make_request("about")
    reply = success([{"name": "VMware vCenter Server", "fullName": "VMware vCenter Server 8.0"}])
    assert zabbix.format(request, reply) == "VMware vCenter Server 8.0"


def test_zabbix_about_with_dict_result_returns_requested_property() -> None:
    request = make_request("about", properties=["version"])
    reply = success({"fullName": "VMware vCenter Server 8.0", "version": "8.0.2"})
    assert zabbix.format(request, reply) == "8.0.2"


def test_zabbix_perf_metric_get_single_sample_returns_its_value() -> None:
    request = make_request(
        "vm.perf.metric.get", name="vm01", **{"counter-name": "cpu.usage.percent.average"}
    )
    sample = {
        "interval": 20,
        "timestamp": "2024-01-01T00:00:00Z",
        "counterId": "cpu",
        "instance": "",
        "value": 123,
    }
    assert zabbix.format(request, success([sample])) == "123"


def test_zabbix_perf_metric_get_several_samples_is_discovery() -> None:
    request = make_request("host.perf.metric.get", name="esx01", **{"max-sample": 2})
    reply = success([{"instance": "vmnic0", "value": 1}, {"instance": "vmnic1", "value": 2}])
    assert zabbix_data(zabbix.format(request, reply)) == [
        {"{#VSPHERE.HOST.INSTANCE}": "vmnic0", "{#VSPHERE.HOST.VALUE}": 1},
        {"{#VSPHERE.HOST.INSTANCE}": "vmnic1", "{#VSPHERE.HOST.VALUE}": 2},
    ]


def test_zabbix_cpu_usage_percent_returns_sample_value() -> None:
    request = make_request("vm.cpu.usage.percent", name="vm01")
    reply = success([{"name": "vm01", "counterId": "cpu.usage.percent.average", "value": 42.5}])
    assert zabbix.format(request, reply) == "42.5"


def test_zabbix_event_latest_returns_event_message() -> None:
    request = make_request("event.latest")
    assert (
        zabbix.format(request, success([{"event": "User root logged in"}])) == "User root logged in"
    )


def test_zabbix_get_with_empty_result_returns_empty_string() -> None:
    request = make_request("vm.get", name="vm01", properties=["name"])
    assert zabbix.format(request, success([])) == ""


# --- zabbix: process counting and failures -------------------------------------------------

PROCESSES = [
    {"cmdLine": "/usr/sbin/sshd -D", "name": "sshd"},
    {"cmdLine": "/usr/bin/python3 app.py", "name": "python3"},
    {"cmdLine": "/usr/bin/python3 other.py", "name": "python3"},
    {"cmdLine": None, "name": "kthreadd"},
]


def test_zabbix_process_get_counts_processes_matching_key() -> None:
    request = make_request("vm.process.get", name="vm01", key="python3")
    assert zabbix.format(request, success(PROCESSES)) == "2"


def test_zabbix_process_get_counts_all_processes_without_key() -> None:
    request = make_request("vm.process.get", name="vm01")
    assert zabbix.format(request, success(PROCESSES)) == "4"


def test_zabbix_process_get_counts_zero_when_nothing_matches() -> None:
    request = make_request("vm.process.get", name="vm01", key="nginx")
    assert zabbix.format(request, success(PROCESSES)) == "0"


def test_zabbix_failure_returns_msg() -> None:
    request = make_request("vm.get", name="nope", properties=["name"])
    assert zabbix.format(request, failure("Cannot find object nope")) == "Cannot find object nope"


def test_zabbix_failure_of_discovery_returns_msg_not_json() -> None:
    request = make_request("vm.discover")
    assert (
        zabbix.format(request, failure("Agent vc01 is not registered"))
        == "Agent vc01 is not registered"
    )


def test_zabbix_macro_name_of_spec_examples() -> None:
    assert zabbix.macro_name("vm.discover", "name") == "{#VSPHERE.VM.NAME}"
    assert zabbix.macro_name("vm.disk.discover", "diskPath") == "{#VSPHERE.VM.DISKPATH}"


# --- czabbix -------------------------------------------------------------------------------


def test_czabbix_discovery_is_zabbix_text_nul_terminated() -> None:
    request = make_request("vm.discover")
    reply = success([{"name": TRICKY_NAME}])
    output = czabbix.format(request, reply)
    assert output == zabbix.format(request, reply) + "\x00"
    assert zabbix_data(output[:-1]) == [{"{#VSPHERE.VM.NAME}": TRICKY_NAME}]


def test_czabbix_single_value_is_nul_terminated() -> None:
    request = make_request("vm.get", name="vm01", properties=["runtime.powerState"])
    reply = success([{"name": "vm01", "runtime.powerState": "poweredOn"}])
    assert czabbix.format(request, reply) == "poweredOn\x00"


def test_czabbix_failure_is_msg_nul_terminated() -> None:
    request = make_request("vm.get", name="vm01", properties=["name"])
    assert czabbix.format(request, failure("Timed out")) == "Timed out\x00"


# --- cclient -------------------------------------------------------------------------------


def test_cclient_returns_whole_reply_as_json_nul_terminated() -> None:
    request = make_request("vm.discover")
    reply = success([{"name": "vm01", "runtime.powerState": "poweredOn"}])
    output = cclient.format(request, reply)
    assert output.endswith("\x00")
    assert output.count("\x00") == 1
    assert json.loads(output[:-1]) == reply


def test_cclient_tricky_names_survive_as_valid_json() -> None:
    request = make_request("vm.discover")
    reply = success([{"name": TRICKY_NAME}])
    output = cclient.format(request, reply)
    assert "名前 😀" in output
    assert json.loads(output[:-1])["result"][0]["name"] == TRICKY_NAME


def test_cclient_failure_reply_is_json_too() -> None:
    request = make_request("vm.get", name="x", properties=["name"])
    assert json.loads(cclient.format(request, failure("Cannot find object x"))[:-1]) == {
        "success": 1,
        "msg": "Cannot find object x",
    }


# --- csvhelper -----------------------------------------------------------------------------


def test_csvhelper_writes_header_from_union_of_keys_in_first_seen_order() -> None:
    request = make_request("vm.discover")
    reply = success(
        [
            {"name": "vm01", "runtime.powerState": "poweredOn"},
            {"name": "vm02", "guest.ipAddress": "10.0.0.2"},
        ]
    )
    assert csv_rows(csvhelper.format(request, reply)) == [
        ["name", "runtime.powerState", "guest.ipAddress"],
        ["vm01", "poweredOn", ""],
        ["vm02", "", "10.0.0.2"],
    ]


def test_csvhelper_writes_nested_values_as_json_text() -> None:
    request = make_request("host.discover")
    reply = success(
        [{"name": "esx01", "hw": {"cpu": 8}, "nics": ["a", "b"], "up": True, "mhz": 2400}]
    )
    rows = csv_rows(csvhelper.format(request, reply))
    assert rows[1][0] == "esx01"
    assert json.loads(rows[1][1]) == {"cpu": 8}
    assert json.loads(rows[1][2]) == ["a", "b"]
    assert rows[1][3:] == ["true", "2400"]


def test_csvhelper_tricky_names_survive_as_valid_csv() -> None:
    request = make_request("vm.discover")
    reply = success([{"name": TRICKY_NAME, "note": 'say "hi", then\r\nleave'}])
    assert csv_rows(csvhelper.format(request, reply)) == [
        ["name", "note"],
        [TRICKY_NAME, 'say "hi", then\r\nleave'],
    ]


def test_csvhelper_single_object_result_is_one_row() -> None:
    request = make_request("about")
    reply = success({"fullName": "VMware vCenter Server 8.0", "version": "8.0.2"})
    assert csv_rows(csvhelper.format(request, reply)) == [
        ["fullName", "version"],
        ["VMware vCenter Server 8.0", "8.0.2"],
    ]


def test_csvhelper_empty_result_is_empty_text() -> None:
    assert csvhelper.format(make_request("vm.discover"), success([])) == ""


def test_csvhelper_failure_returns_msg() -> None:
    request = make_request("vm.discover")
    assert csvhelper.format(request, failure("Agent vc01 is disabled")) == "Agent vc01 is disabled"


# --- loader --------------------------------------------------------------------------------


def test_load_helpers_loads_every_builtin_helper() -> None:
    names = [
        ZABBIX,
        "vpoller.helpers.czabbix",
        "vpoller.helpers.cclient",
        "vpoller.helpers.csvhelper",
    ]
    helpers = load_helpers(names)
    assert list(helpers) == names
    assert helpers[ZABBIX] is zabbix.format


def test_load_helpers_skips_blank_names() -> None:
    assert list(load_helpers([" vpoller.helpers.zabbix ", "", "  "])) == [ZABBIX]


def test_load_helpers_loads_third_party_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_upper_helper.py").write_text(
        textwrap.dedent(
            """
            def format(request, reply):
                return reply["msg"].upper()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_upper_helper", raising=False)
    helpers = load_helpers(["my_upper_helper"])
    request = make_request("about", helper="my_upper_helper")
    assert apply_helper(helpers, request, success([], msg="done")) == "DONE"


def test_load_helpers_missing_module_raises_helper_error() -> None:
    with pytest.raises(HelperError, match=r"Cannot load helper vpoller\.helpers\.nosuch"):
        load_helpers(["vpoller.helpers.nosuch"])


def test_load_helpers_module_without_format_raises_helper_error() -> None:
    with pytest.raises(HelperError, match=r"vpoller\.errors.*no callable 'format'"):
        load_helpers(["vpoller.errors"])


def test_load_helpers_module_with_non_callable_format_raises_helper_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_bad_helper.py").write_text("format = 'not a function'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_bad_helper", raising=False)
    with pytest.raises(HelperError, match="no callable 'format'"):
        load_helpers(["my_bad_helper"])


# --- apply_helper --------------------------------------------------------------------------


def test_apply_helper_runs_the_named_helper() -> None:
    helpers = load_helpers([ZABBIX])
    request = make_request("vm.get", name="vm01", properties=["runtime.powerState"], helper=ZABBIX)
    reply = success([{"name": "vm01", "runtime.powerState": "poweredOn"}])
    assert apply_helper(helpers, request, reply) == "poweredOn"


def test_apply_helper_without_helper_returns_reply_unchanged() -> None:
    reply = success([{"name": "vm01"}])
    assert apply_helper(load_helpers([ZABBIX]), make_request("vm.discover"), reply) is reply


def test_apply_helper_disabled_helper_raises_helper_error() -> None:
    helpers = load_helpers([ZABBIX])
    request = make_request("vm.discover", helper="vpoller.helpers.csvhelper")
    with pytest.raises(
        HelperError, match=r"helper vpoller\.helpers\.csvhelper is not enabled on this worker"
    ):
        apply_helper(helpers, request, success([]))


def test_apply_helper_unknown_helper_raises_helper_error() -> None:
    request = make_request("vm.discover", helper="no.such.helper")
    with pytest.raises(HelperError, match=r"helper no\.such\.helper is not enabled on this worker"):
        apply_helper({}, request, success([]))


def test_apply_helper_wraps_exception_of_helper_in_helper_error() -> None:
    def broken(request: Request, reply: Reply) -> str:
        raise KeyError("result")

    request = make_request("vm.discover", helper="broken")
    with pytest.raises(HelperError, match="helper broken failed to format the result") as info:
        apply_helper({"broken": broken}, request, success([]))
    assert isinstance(info.value.__cause__, KeyError)


def test_apply_helper_rejects_helper_returning_wrong_type() -> None:
    def wrong(request: Request, reply: Reply) -> Any:
        return 42

    request = make_request("vm.discover", helper="wrong")
    with pytest.raises(HelperError, match="returned int"):
        apply_helper({"wrong": wrong}, request, success([]))
