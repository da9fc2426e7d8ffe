"""Performance task methods against govmomi's simulator, directly and through the real stack.

Expected values come from plain pyVmomi reads of the same simulator (the
``si`` fixture). Sample values are random in the simulator, so tests check
what is not: counts, counter names, instances, intervals, timestamps. Tests
that power a VM off or disconnect a host restore it in their teardown, as the
simulator is shared by the whole test session.

The simulator's sample data has zeros for some counters of some types, and it
drops zero values from a series (Go's ``omitempty`` on each element), so a
series can be shorter than its sample infos; exact sample counts are checked
only with counters whose data holds no zeros (``cpu.usage``/``mem.usage`` of
VMs and hosts, ``cpu.usagemhz`` of clusters).
"""

from __future__ import annotations

import datetime
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

import vpoller.vsphere.tasks  # noqa: F401 -- registers the task methods
from vpoller.errors import ObjectNotFoundError
from vpoller.registry import AgentRecord
from vpoller.request import Reply, Request
from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack
from vpoller.vsphere import objects, perf, perfcounters
from vpoller.vsphere.agent import VSphereAgent
from vpoller.vsphere.taskregistry import TASKS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TASK_TIMEOUT_S = 30.0
REALTIME_S = 20
CPU = "cpu.usage.percent.average"
MHZ = "cpu.usagemhz.megaHertz.average"
MEM = "mem.usage.percent.average"
NET = "net.usage.kiloBytesPerSecond.average"
COUNTER_ID = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_.]+\.[A-Za-z0-9_]+\.[a-z]+$")
DEFAULT_INTERVALS = [
    {
        "enabled": True,
        "key": 1,
        "length": 86400,
        "level": 1,
        "name": "Past day",
        "samplingPeriod": 300,
    },
    {
        "enabled": True,
        "key": 2,
        "length": 604800,
        "level": 1,
        "name": "Past week",
        "samplingPeriod": 1800,
    },
    {
        "enabled": True,
        "key": 3,
        "length": 2592000,
        "level": 1,
        "name": "Past month",
        "samplingPeriod": 7200,
    },
    {
        "enabled": True,
        "key": 4,
        "length": 31536000,
        "level": 1,
        "name": "Past year",
        "samplingPeriod": 86400,
    },
]
PERF_TYPES = {
    "datacenter": vim.Datacenter,
    "cluster": vim.ClusterComputeResource,
    "host": vim.HostSystem,
    "vm": vim.VirtualMachine,
    "datastore": vim.Datastore,
}


# -- fixtures and helpers ------------------------------------------------------------


def _record(sim: Simulator) -> AgentRecord:
    return AgentRecord(
        host=sim.host,
        user=sim.username,
        password=sim.password,
        port=sim.port,
        enabled=True,
        ca_file=sim.ca_file,
    )


@pytest.fixture
def agent(sim: Simulator) -> Iterator[VSphereAgent]:
    made = VSphereAgent(_record(sim), connect_timeout_s=5.0)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def query_log(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Every QueryPerf round trip, as the metric count of each of its specs."""
    calls: list[list[int]] = []
    real = perf._query_perf

    def spy(manager: Any, specs: list[Any]) -> list[Any]:
        calls.append([len(spec.metricId) for spec in specs])
        return real(manager, specs)

    monkeypatch.setattr(perf, "_query_perf", spy)
    return calls


def run(agent: VSphereAgent, method: str, **keys: Any) -> Reply:
    request = Request(method=method, hostname=agent.host, **keys)
    return agent.execute(TASKS[method], request)


def _objects(si: Any, vim_type: type) -> list[Any]:
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim_type], True)
    try:
        return sorted(view.view, key=lambda obj: obj.name)
    finally:
        view.DestroyView()


def _running_vms(si: Any) -> list[Any]:
    return [
        vm
        for vm in _objects(si, vim.VirtualMachine)
        if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
    ]


def _connected_host(si: Any) -> Any:
    return next(
        h
        for h in _objects(si, vim.HostSystem)
        if h.runtime.connectionState == vim.HostSystemConnectionState.connected
    )


def _names(si: Any) -> dict[int, str]:
    return {c.key: perfcounters.counter_name(c) for c in si.content.perfManager.perfCounter}


def _available(si: Any, entity: Any, interval: int) -> list[tuple[str, str]]:
    names = _names(si)
    metrics = si.content.perfManager.QueryAvailablePerfMetric(entity=entity, intervalId=interval)
    return [(names[m.counterId], m.instance) for m in metrics if m.counterId in names]


def _wait(task: Any) -> None:
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while task.info.state not in (vim.TaskInfo.State.success, vim.TaskInfo.State.error):
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task} did not finish")
        time.sleep(0.05)
    if task.info.state == vim.TaskInfo.State.error:
        raise task.info.error


@pytest.fixture
def powered_off_vm(si: Any) -> Iterator[Any]:
    vm = _running_vms(si)[-1]
    _wait(vm.PowerOffVM_Task())
    try:
        yield vm
    finally:
        _wait(vm.PowerOnVM_Task())


DISCONNECTED_HOST = "disconnected-host.example.org"


@pytest.fixture(scope="module")
def disconnected_sim() -> Iterator[Simulator]:
    """A private simulator holding a disconnected host ``DISCONNECTED_HOST``.

    govmomi 0.24's HostSystem has no DisconnectHost_Task (MethodNotFound), but
    a cluster's AddHost_Task with ``asConnected=False`` adds a host in state
    ``disconnected``. A host added that way cannot be removed cleanly from the
    simulator, so it lives in a simulator of its own, not the shared one.
    """
    with Simulator(vms=2) as private:
        service = private.connect()
        try:
            cluster = _objects(service, vim.ClusterComputeResource)[0]
            spec = vim.host.ConnectSpec(hostName=DISCONNECTED_HOST, force=True)
            _wait(cluster.AddHost_Task(spec=spec, asConnected=False))
            host = next(h for h in _objects(service, vim.HostSystem) if h.name == DISCONNECTED_HOST)
            assert host.runtime.connectionState == vim.HostSystemConnectionState.disconnected
        finally:
            Disconnect(service)
        yield private


@pytest.fixture
def disconnected_agent(disconnected_sim: Simulator) -> Iterator[VSphereAgent]:
    made = VSphereAgent(_record(disconnected_sim), connect_timeout_s=5.0)
    try:
        yield made
    finally:
        made.close()


# -- perf.metric.info and perf.interval.info ---------------------------------------------


def test_perf_metric_info_has_as_many_counters_as_the_server(agent: VSphereAgent, si: Any) -> None:
    reply = run(agent, "perf.metric.info")
    assert len(reply["result"]) == len(si.content.perfManager.perfCounter)


def test_perf_metric_info_counter_ids_match_the_server(agent: VSphereAgent, si: Any) -> None:
    reply = run(agent, "perf.metric.info")
    assert [row["counterId"] for row in reply["result"]] == list(_names(si).values())


def test_perf_metric_info_counter_fields_match_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    info = next(
        c for c in si.content.perfManager.perfCounter if perfcounters.counter_name(c) == CPU
    )
    reply = run(agent, "perf.metric.info")
    row = next(r for r in reply["result"] if r["counterId"] == CPU)
    assert row == {
        "counterId": CPU,
        "key": info.key,
        "group": "cpu",
        "name": "usage",
        "unit": "percent",
        "rollupType": "average",
        "statsType": info.statsType,
        "level": info.level,
        "perDeviceLevel": info.perDeviceLevel,
        "label": info.nameInfo.label,
        "description": info.nameInfo.summary,
    }


def test_perf_interval_info_returns_the_four_default_intervals(agent: VSphereAgent) -> None:
    reply = run(agent, "perf.interval.info")
    assert reply["result"] == DEFAULT_INTERVALS


def test_perf_interval_info_matches_pyvmomi(agent: VSphereAgent, si: Any) -> None:
    expected = [(i.name, i.samplingPeriod) for i in si.content.perfManager.historicalInterval]
    reply = run(agent, "perf.interval.info")
    assert [(r["name"], r["samplingPeriod"]) for r in reply["result"]] == expected


def test_perf_catalogue_is_read_once_per_session(
    agent: VSphereAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = perfcounters._read_catalogue

    def counting(content: Any) -> perfcounters.Catalogue:
        reads.append(1)
        return real(content)

    monkeypatch.setattr(perfcounters, "_read_catalogue", counting)
    run(agent, "perf.metric.info")
    run(agent, "perf.interval.info")
    run(agent, "vm.cpu.usage.percent", name=_first_running_name(agent))
    assert len(reads) == 1


def test_perf_catalogue_is_read_again_after_reconnect(
    agent: VSphereAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = perfcounters._read_catalogue

    def counting(content: Any) -> perfcounters.Catalogue:
        reads.append(1)
        return real(content)

    monkeypatch.setattr(perfcounters, "_read_catalogue", counting)
    run(agent, "perf.metric.info")
    agent.invalidate()
    run(agent, "perf.metric.info")
    assert len(reads) == 2


def _first_running_name(agent: VSphereAgent) -> str:
    reply = run(agent, "vm.discover", properties=("runtime.powerState",))
    return str(
        sorted(r["name"] for r in reply["result"] if r["runtime.powerState"] == "poweredOn")[0]
    )


def test_max_query_metrics_falls_back_to_api_version(agent: VSphereAgent, si: Any) -> None:
    # The simulator has no config.vpxd.stats.maxQueryMetrics and reports API 6.5.
    assert si.content.about.apiVersion == "6.5"
    assert perfcounters.max_query_metrics(agent) == perfcounters.MAX_QUERY_METRICS_SINCE_6_5


# -- <type>.perf.metric.info ---------------------------------------------------------------


@pytest.mark.parametrize("otype", list(PERF_TYPES))
def test_type_perf_metric_info_matches_query_available_perf_metric(
    agent: VSphereAgent, si: Any, otype: str
) -> None:
    entity = _objects(si, PERF_TYPES[otype])[0]
    # Real-time for VMs and hosts, else the shortest historical interval (Past day).
    interval = REALTIME_S if otype in ("vm", "host") else 300
    reply = run(agent, f"{otype}.perf.metric.info", name=entity.name)
    rows = [(r["counterId"], r["instance"]) for r in reply["result"]]
    assert rows == _available(si, entity, interval)


def test_vm_perf_metric_info_rows_have_counter_id_and_instance(
    agent: VSphereAgent, si: Any
) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.perf.metric.info", name=vm.name)
    assert reply["result"]
    assert {tuple(sorted(r)) for r in reply["result"]} == {("counterId", "instance")}


def test_vm_perf_metric_info_filters_by_counter_names(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    expected = [row for row in _available(si, vm, REALTIME_S) if row[0] in (CPU, NET)]
    reply = run(agent, "vm.perf.metric.info", name=vm.name, counter_name=(CPU, NET))
    assert [(r["counterId"], r["instance"]) for r in reply["result"]] == expected


def test_host_perf_metric_info_batch_rows_carry_name(agent: VSphereAgent, si: Any) -> None:
    hosts = [h.name for h in _objects(si, vim.HostSystem)[:2]]
    reply = run(agent, "host.perf.metric.info", name=tuple(hosts), counter_name=CPU)
    assert sorted({r["name"] for r in reply["result"]}) == sorted(hosts)


def test_vm_perf_metric_info_unknown_counter_is_error(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    with pytest.raises(
        perfcounters.UnknownCounterError, match=re.escape("'cpu.bogus.percent.average'")
    ):
        run(agent, "vm.perf.metric.info", name=vm.name, counter_name="cpu.bogus.percent.average")


# -- <type>.perf.metric.get: samples ---------------------------------------------------------


def test_host_perf_metric_get_returns_max_sample_samples(agent: VSphereAgent, si: Any) -> None:
    host = _connected_host(si)
    reply = run(
        agent, "host.perf.metric.get", name=host.name, counter_name=CPU, instance="", max_sample=4
    )
    assert len(reply["result"]) == 4


def test_host_perf_metric_get_defaults_to_one_sample(agent: VSphereAgent, si: Any) -> None:
    host = _connected_host(si)
    reply = run(agent, "host.perf.metric.get", name=host.name, counter_name=CPU, instance="")
    assert len(reply["result"]) == 1


def test_host_perf_metric_get_sample_shape(agent: VSphereAgent, si: Any) -> None:
    host = _connected_host(si)
    reply = run(agent, "host.perf.metric.get", name=host.name, counter_name=CPU, instance="")
    sample = reply["result"][0]
    assert (list(sample), sample["interval"], sample["counterId"], sample["instance"]) == (
        ["interval", "timestamp", "counterId", "instance", "value"],
        REALTIME_S,
        CPU,
        "",
    )


def test_host_perf_metric_get_counter_id_is_group_name_unit_rollup(
    agent: VSphereAgent, si: Any
) -> None:
    host = _connected_host(si)
    reply = run(agent, "host.perf.metric.get", name=host.name, counter_name=NET, max_sample=2)
    assert all(COUNTER_ID.match(s["counterId"]) for s in reply["result"])
    assert {s["counterId"] for s in reply["result"]} == {NET}


def test_vm_perf_metric_get_values_are_integers(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.perf.metric.get", name=vm.name, counter_name=CPU, instance="")
    value = reply["result"][0]["value"]
    assert isinstance(value, int)
    assert value >= 0


def test_host_perf_metric_get_timestamps_ascend_at_refresh_rate(
    agent: VSphereAgent, si: Any
) -> None:
    host = _connected_host(si)
    reply = run(
        agent, "host.perf.metric.get", name=host.name, counter_name=CPU, instance="", max_sample=3
    )
    stamps = [datetime.datetime.fromisoformat(s["timestamp"]) for s in reply["result"]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert gaps == [REALTIME_S, REALTIME_S]


def test_host_perf_metric_get_timestamps_are_recent_utc(agent: VSphereAgent, si: Any) -> None:
    host = _connected_host(si)
    reply = run(agent, "host.perf.metric.get", name=host.name, counter_name=CPU, instance="")
    stamp = datetime.datetime.fromisoformat(reply["result"][0]["timestamp"])
    age_s = (si.CurrentTime() - stamp).total_seconds()
    assert stamp.utcoffset() == datetime.timedelta(0)
    assert 0 <= age_s < 60


def test_vm_perf_metric_get_aggregate_instance_only(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.perf.metric.get", name=vm.name, counter_name=NET, instance="")
    assert [s["instance"] for s in reply["result"]] == [""]


def test_host_perf_metric_get_named_instance_only(agent: VSphereAgent, si: Any) -> None:
    host = _connected_host(si)
    instance = next(i for c, i in _available(si, host, REALTIME_S) if c == NET and i)
    reply = run(
        agent,
        "host.perf.metric.get",
        name=host.name,
        counter_name=NET,
        instance=instance,
        max_sample=2,
    )
    assert [s["instance"] for s in reply["result"]] == [instance, instance]


def test_host_perf_metric_get_without_instance_returns_every_instance(
    agent: VSphereAgent, si: Any
) -> None:
    host = _connected_host(si)
    expected = [i for c, i in _available(si, host, REALTIME_S) if c == NET]
    reply = run(agent, "host.perf.metric.get", name=host.name, counter_name=NET)
    assert len(expected) > 1
    assert [s["instance"] for s in reply["result"]] == expected


def test_host_perf_metric_get_max_sample_is_per_instance(agent: VSphereAgent, si: Any) -> None:
    host = _connected_host(si)
    instances = [i for c, i in _available(si, host, REALTIME_S) if c == NET]
    reply = run(agent, "host.perf.metric.get", name=host.name, counter_name=NET, max_sample=2)
    assert len(reply["result"]) == 2 * len(instances)


@pytest.mark.parametrize("interval", DEFAULT_INTERVALS, ids=lambda i: i["name"])
def test_vm_perf_metric_get_historical_interval_is_sampling_period(
    agent: VSphereAgent, si: Any, interval: dict[str, Any]
) -> None:
    vm = _running_vms(si)[0]
    reply = run(
        agent,
        "vm.perf.metric.get",
        name=vm.name,
        counter_name=CPU,
        instance="",
        max_sample=3,
        perf_interval=interval["name"],
    )
    assert [s["interval"] for s in reply["result"]] == [interval["samplingPeriod"]] * 3


def test_host_perf_metric_get_historical_returns_newest_samples(
    agent: VSphereAgent, si: Any
) -> None:
    host = _connected_host(si)
    reply = run(
        agent,
        "host.perf.metric.get",
        name=host.name,
        counter_name=CPU,
        instance="",
        max_sample=2,
        perf_interval="Past week",
    )
    newest = datetime.datetime.fromisoformat(reply["result"][-1]["timestamp"])
    assert (si.CurrentTime() - newest).total_seconds() < 1800


def test_datastore_perf_metric_get_defaults_to_past_day(agent: VSphereAgent, si: Any) -> None:
    ds = _objects(si, vim.Datastore)[0]
    reply = run(
        agent,
        "datastore.perf.metric.get",
        name=ds.name,
        counter_name="disk.used.kiloBytes.latest",
        instance="",
        max_sample=2,
    )
    assert [s["interval"] for s in reply["result"]] == [300, 300]


def test_datastore_perf_metric_get_by_url(agent: VSphereAgent, si: Any) -> None:
    ds = _objects(si, vim.Datastore)[0]
    reply = run(
        agent,
        "datastore.perf.metric.get",
        name=ds.info.url,
        counter_name="disk.used.kiloBytes.latest",
        instance="",
        perf_interval="Past week",
    )
    assert [(s["interval"], s["instance"]) for s in reply["result"]] == [(1800, "")]


def test_datacenter_perf_metric_get_returns_historical_samples(
    agent: VSphereAgent, si: Any
) -> None:
    dc = _objects(si, vim.Datacenter)[0]
    counter = _available(si, dc, 300)[0][0]
    reply = run(
        agent,
        "datacenter.perf.metric.get",
        name=dc.name,
        counter_name=counter,
        instance="",
        max_sample=2,
        perf_interval="Past day",
    )
    assert [(s["counterId"], s["interval"]) for s in reply["result"]] == [(counter, 300)] * 2


def test_cluster_perf_metric_get_returns_historical_samples(agent: VSphereAgent, si: Any) -> None:
    cluster = _objects(si, vim.ClusterComputeResource)[0]
    reply = run(
        agent,
        "cluster.perf.metric.get",
        name=cluster.name,
        counter_name=MHZ,
        instance="",
        max_sample=3,
        perf_interval="Past month",
    )
    assert [(s["counterId"], s["interval"]) for s in reply["result"]] == [(MHZ, 7200)] * 3


def test_vm_perf_metric_get_counter_missing_on_object_is_empty_success(
    agent: VSphereAgent, si: Any
) -> None:
    vm = _running_vms(si)[0]
    # A datacenter counter: the VM has no such metric, so there is nothing to ask for.
    reply = run(
        agent, "vm.perf.metric.get", name=vm.name, counter_name="vmop.numPoweron.number.latest"
    )
    assert (reply["success"], reply["result"], reply["msg"]) == (0, [], perf.MSG_NO_SAMPLES)


def test_vm_perf_metric_get_by_moref(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.perf.metric.get", moref=vm._moId, counter_name=CPU, instance="")
    assert [s["counterId"] for s in reply["result"]] == [CPU]


def test_vm_perf_metric_get_by_uuid(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.perf.metric.get", uuid=vm.config.uuid, counter_name=CPU, instance="")
    assert [s["counterId"] for s in reply["result"]] == [CPU]


def test_vm_perf_metric_get_unknown_name_is_not_found(agent: VSphereAgent) -> None:
    with pytest.raises(ObjectNotFoundError, match="'no-such-vm'"):
        run(agent, "vm.perf.metric.get", name="no-such-vm", counter_name=CPU)


# -- batches ------------------------------------------------------------------------------------


def test_vm_perf_metric_get_counter_list_returns_each_counter(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.perf.metric.get", name=vm.name, counter_name=(CPU, MEM), instance="")
    assert [s["counterId"] for s in reply["result"]] == [CPU, MEM]


def test_vm_perf_metric_get_counter_list_is_one_query(
    agent: VSphereAgent, si: Any, query_log: list[list[int]]
) -> None:
    vm = _running_vms(si)[0]
    run(agent, "vm.perf.metric.get", name=vm.name, counter_name=(CPU, MEM), instance="")
    assert query_log == [[2]]


def test_vm_perf_metric_get_name_list_samples_carry_name(agent: VSphereAgent, si: Any) -> None:
    names = [vm.name for vm in _running_vms(si)[:3]]
    reply = run(
        agent, "vm.perf.metric.get", name=tuple(names), counter_name=(CPU, MEM), instance=""
    )
    assert [(s["name"], s["counterId"]) for s in reply["result"]] == [
        (name, counter) for name in names for counter in (CPU, MEM)
    ]


def test_vm_perf_metric_get_name_list_is_one_query(
    agent: VSphereAgent, si: Any, query_log: list[list[int]]
) -> None:
    names = tuple(vm.name for vm in _running_vms(si)[:3])
    run(agent, "vm.perf.metric.get", name=names, counter_name=CPU, instance="")
    assert query_log == [[1, 1, 1]]


def test_datastore_perf_metric_get_name_list_samples_carry_url(
    agent: VSphereAgent, si: Any
) -> None:
    stores = _objects(si, vim.Datastore)[:2]
    reply = run(
        agent,
        "datastore.perf.metric.get",
        name=tuple(ds.info.url for ds in stores),
        counter_name="disk.used.kiloBytes.latest",
        instance="",
    )
    assert [(s["name"], s["info.url"]) for s in reply["result"]] == [
        (ds.name, ds.info.url) for ds in stores
    ]


def test_perf_metric_get_split_respects_forced_limit(
    agent: VSphereAgent, si: Any, query_log: list[list[int]]
) -> None:
    names = tuple(vm.name for vm in _running_vms(si)[:3])
    request = Request(
        method="vm.perf.metric.get",
        hostname=agent.host,
        name=names,
        counter_name=(CPU, MEM),
        instance="",
    )
    perf.metric_get(agent, objects.OBJECT_TYPES["vm"], request, query_limit=4)
    assert query_log == [[2, 2], [2]]


def test_perf_metric_get_split_returns_same_samples_as_one_query(
    agent: VSphereAgent, si: Any
) -> None:
    names = tuple(vm.name for vm in _running_vms(si)[:3])
    request = Request(
        method="vm.perf.metric.get",
        hostname=agent.host,
        name=names,
        counter_name=(CPU, MEM, NET),
        max_sample=2,
    )
    vm_type = objects.OBJECT_TYPES["vm"]

    def keys(reply: Reply) -> list[tuple[str, str, str]]:
        return [(s["name"], s["counterId"], s["instance"]) for s in reply["result"]]

    whole = perf.metric_get(agent, vm_type, request)
    split = perf.metric_get(agent, vm_type, request, query_limit=2)
    assert keys(split) == keys(whole)


def test_perf_metric_get_split_splits_one_entity(
    agent: VSphereAgent, si: Any, query_log: list[list[int]]
) -> None:
    host = _connected_host(si)
    instances = [i for c, i in _available(si, host, REALTIME_S) if c == NET]
    request = Request(
        method="host.perf.metric.get", hostname=agent.host, name=host.name, counter_name=NET
    )
    reply = perf.metric_get(agent, objects.OBJECT_TYPES["host"], request, query_limit=1)
    assert (query_log, len(reply["result"])) == ([[1]] * len(instances), len(instances))


# -- errors --------------------------------------------------------------------------------


def test_vm_perf_metric_get_unknown_counter_is_error(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    with pytest.raises(
        perfcounters.UnknownCounterError, match=re.escape("'cpu.nothing.percent.average'")
    ):
        run(agent, "vm.perf.metric.get", name=vm.name, counter_name="cpu.nothing.percent.average")


def test_vm_perf_metric_get_malformed_counter_is_error(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    with pytest.raises(perfcounters.UnknownCounterError, match=re.escape("group.name.unit.rollup")):
        run(agent, "vm.perf.metric.get", name=vm.name, counter_name="cpu.usage")


def test_vm_perf_metric_get_unknown_interval_is_error(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    with pytest.raises(perfcounters.UnknownIntervalError, match="'Past century'"):
        run(
            agent,
            "vm.perf.metric.get",
            name=vm.name,
            counter_name=CPU,
            perf_interval="Past century",
        )


def test_vm_perf_metric_get_powered_off_vm_is_error(
    agent: VSphereAgent, powered_off_vm: Any
) -> None:
    with pytest.raises(perf.PoweredOffError, match=f"VM '{powered_off_vm.name}' is powered off"):
        run(agent, "vm.perf.metric.get", name=powered_off_vm.name, counter_name=CPU)


def test_vm_perf_metric_info_powered_off_vm_is_error(
    agent: VSphereAgent, powered_off_vm: Any
) -> None:
    with pytest.raises(perf.PoweredOffError, match="powered off"):
        run(agent, "vm.perf.metric.info", name=powered_off_vm.name)


def test_vm_perf_metric_get_batch_leaves_out_powered_off_vm(
    agent: VSphereAgent, si: Any, powered_off_vm: Any
) -> None:
    running = _running_vms(si)[0].name
    reply = run(
        agent,
        "vm.perf.metric.get",
        name=(running, powered_off_vm.name),
        counter_name=CPU,
        instance="",
    )
    assert [s["name"] for s in reply["result"]] == [running]
    assert f"VM '{powered_off_vm.name}' is powered off" in reply["msg"]


def test_vm_cpu_usage_percent_powered_off_vm_is_error(
    agent: VSphereAgent, powered_off_vm: Any
) -> None:
    with pytest.raises(perf.PoweredOffError, match="powered off"):
        run(agent, "vm.cpu.usage.percent", name=powered_off_vm.name)


def test_host_perf_metric_get_disconnected_host_is_error(
    disconnected_agent: VSphereAgent,
) -> None:
    with pytest.raises(
        perf.HostDisconnectedError, match=f"Host '{DISCONNECTED_HOST}' is disconnected"
    ):
        run(disconnected_agent, "host.perf.metric.get", name=DISCONNECTED_HOST, counter_name=CPU)


def test_host_perf_metric_info_disconnected_host_is_error(
    disconnected_agent: VSphereAgent,
) -> None:
    with pytest.raises(perf.HostDisconnectedError, match="no performance data"):
        run(disconnected_agent, "host.perf.metric.info", name=DISCONNECTED_HOST)


def test_host_perf_metric_get_batch_leaves_out_disconnected_host(
    disconnected_agent: VSphereAgent,
) -> None:
    connected = run(disconnected_agent, "host.discover", properties=("runtime.connectionState",))
    name = next(
        r["name"] for r in connected["result"] if r["runtime.connectionState"] == "connected"
    )
    reply = run(
        disconnected_agent,
        "host.perf.metric.get",
        name=(DISCONNECTED_HOST, name),
        counter_name=CPU,
        instance="",
    )
    assert [s["name"] for s in reply["result"]] == [name]
    assert f"Host '{DISCONNECTED_HOST}' is disconnected" in reply["msg"]


# -- vm.cpu.usage.percent ------------------------------------------------------------------


def test_vm_cpu_usage_percent_is_latest_realtime_sample(agent: VSphereAgent, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = run(agent, "vm.cpu.usage.percent", name=vm.name)
    row = reply["result"][0]
    assert (row["counterId"], row["instance"], row["interval"]) == (CPU, "", REALTIME_S)
    assert isinstance(row["value"], float)
    assert 0 <= row["value"] <= 100


def test_vm_cpu_usage_percent_scales_hundredths_to_percent(
    agent: VSphereAgent, si: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = _running_vms(si)[0]
    pm: Any = vim.PerformanceManager
    stamp = si.CurrentTime()

    def fixed(manager: Any, specs: list[Any]) -> list[Any]:
        series = pm.IntSeries(id=specs[0].metricId[0], value=[2345])
        info = pm.SampleInfo(timestamp=stamp, interval=REALTIME_S)
        return [pm.EntityMetric(entity=specs[0].entity, sampleInfo=[info], value=[series])]

    monkeypatch.setattr(perf, "_query_perf", fixed)
    reply = run(agent, "vm.cpu.usage.percent", name=vm.name)
    assert (reply["result"][0]["value"], reply["result"][0]["timestamp"]) == (
        23.45,
        stamp.isoformat(),
    )


def test_vm_cpu_usage_percent_name_list_one_row_per_vm(agent: VSphereAgent, si: Any) -> None:
    names = [vm.name for vm in _running_vms(si)[:3]]
    reply = run(agent, "vm.cpu.usage.percent", name=tuple(names))
    assert [r["name"] for r in reply["result"]] == names


# -- through the real stack -----------------------------------------------------------------------


def _ask(stack: Stack, **keys: Any) -> dict[str, Any]:
    reply = stack.request({"hostname": stack.agent, **keys})
    assert isinstance(reply, dict)
    return reply


def test_stack_host_perf_metric_get_returns_max_sample_samples(stack: Stack, si: Any) -> None:
    host = _connected_host(si)
    reply = _ask(
        stack,
        method="host.perf.metric.get",
        name=host.name,
        **{"counter-name": CPU, "instance": "", "max-sample": "3"},
    )
    assert [(s["counterId"], s["interval"]) for s in reply["result"]] == [(CPU, REALTIME_S)] * 3


def test_stack_perf_interval_info_returns_the_four_defaults(stack: Stack) -> None:
    reply = _ask(stack, method="perf.interval.info")
    assert reply["result"] == DEFAULT_INTERVALS


def test_stack_perf_metric_info_has_every_counter(stack: Stack, si: Any) -> None:
    reply = _ask(stack, method="perf.metric.info")
    assert len(reply["result"]) == len(si.content.perfManager.perfCounter)


def test_stack_cluster_perf_metric_get_requires_perf_interval(stack: Stack, si: Any) -> None:
    cluster = _objects(si, vim.ClusterComputeResource)[0]
    reply = _ask(
        stack, method="cluster.perf.metric.get", name=cluster.name, **{"counter-name": CPU}
    )
    assert reply["success"] == 1
    assert "perf-interval" in reply["msg"]


def test_stack_vm_perf_metric_get_batch_of_names_and_counters(stack: Stack, si: Any) -> None:
    names = [vm.name for vm in _running_vms(si)[:2]]
    reply = _ask(
        stack,
        method="vm.perf.metric.get",
        name=names,
        **{"counter-name": [CPU, MEM], "instance": ""},
    )
    assert [(s["name"], s["counterId"]) for s in reply["result"]] == [
        (name, counter) for name in names for counter in (CPU, MEM)
    ]


def test_stack_unknown_interval_is_error_reply(stack: Stack, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = _ask(
        stack,
        method="vm.perf.metric.get",
        name=vm.name,
        **{"counter-name": CPU, "perf-interval": "Past century"},
    )
    assert (reply["success"], "'Past century'" in reply["msg"]) == (1, True)


def test_stack_powered_off_vm_is_error_reply(stack: Stack, powered_off_vm: Any) -> None:
    reply = _ask(
        stack, method="vm.perf.metric.get", name=powered_off_vm.name, **{"counter-name": CPU}
    )
    assert reply == {
        "success": 1,
        "msg": f"VM '{powered_off_vm.name}' is powered off: no performance data",
    }


def test_stack_vm_cpu_usage_percent_in_range(stack: Stack, si: Any) -> None:
    vm = _running_vms(si)[0]
    reply = _ask(stack, method="vm.cpu.usage.percent", name=vm.name)
    assert 0 <= reply["result"][0]["value"] <= 100


def _count_available_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each QueryAvailablePerfMetric round trip (by entity moref)."""
    calls: list[str] = []
    real = perf._query_available

    def counting(manager: Any, ref: Any, interval_id: int) -> list[Any]:
        calls.append(ref._moId)
        return real(manager, ref, interval_id)

    monkeypatch.setattr(perf, "_query_available", counting)
    return calls


def test_perf_available_metrics_are_reused_within_a_session(
    agent: VSphereAgent, si: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = _connected_host(si).name
    calls = _count_available_queries(monkeypatch)
    first = run(agent, "host.perf.metric.get", name=host, counter_name="cpu.usage.percent.average")
    second = run(agent, "host.perf.metric.get", name=host, counter_name="cpu.usage.percent.average")
    assert len(calls) == 1
    assert [(r["counterId"], r["instance"]) for r in first["result"]] == [
        (r["counterId"], r["instance"]) for r in second["result"]
    ]


def test_perf_available_metrics_expire(
    agent: VSphereAgent, si: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = _connected_host(si).name
    calls = _count_available_queries(monkeypatch)
    monkeypatch.setattr(perf, "AVAILABLE_METRICS_TTL_S", 0.0)
    for _ in range(2):
        run(agent, "host.perf.metric.get", name=host, counter_name="cpu.usage.percent.average")
    assert len(calls) == 2
