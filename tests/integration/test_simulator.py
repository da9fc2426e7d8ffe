"""The vCenter simulator launcher: inventory, TLS, restart and perf intervals."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from pyVim import connect
from pyVmomi import vim

from vpoller.testing.simulator import Simulator, Topology

pytestmark = pytest.mark.integration

# pyVmomi's stubs leave Disconnect untyped
disconnect: Any = connect.Disconnect

SMALL_VMS = 7  # not a multiple of the host count, so the spread must be exact


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(vms=SMALL_VMS, pools=1) as s:
        yield s


@pytest.fixture
def si(sim: Simulator) -> Iterator[Any]:
    service = sim.connect()
    try:
        yield service
    finally:
        disconnect(service)


def count_by_type(si: Any, vim_type: Any) -> int:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim_type], True)
    try:
        return len(view.view)
    finally:
        view.Destroy()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


@pytest.mark.parametrize(
    "vim_type",
    [
        vim.Datacenter,
        vim.ClusterComputeResource,
        vim.HostSystem,
        vim.VirtualMachine,
        vim.Datastore,
        vim.Network,
        vim.ResourcePool,
    ],
    ids=lambda t: t.__name__,
)
def test_simulator_inventory_matches_expected_counts(
    sim: Simulator, si: Any, vim_type: Any
) -> None:
    expected = sim.expected_counts().by_vim_type()[vim_type.__name__]
    assert count_by_type(si, vim_type) == expected


def test_simulator_holds_exactly_the_requested_vms(si: Any) -> None:
    assert count_by_type(si, vim.VirtualMachine) == SMALL_VMS


def test_simulator_certificate_verifies_with_default_context(sim: Simulator) -> None:
    context = ssl.create_default_context(cafile=sim.ca_file)
    with (
        socket.create_connection((sim.host, sim.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sim.host) as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]


def test_simulator_rejects_wrong_password(sim: Simulator) -> None:
    with pytest.raises(vim.fault.InvalidLogin):
        sim.connect(password=sim.password + "x")


def test_simulator_historical_intervals_are_vcenter_defaults(si: Any) -> None:
    intervals = si.RetrieveContent().perfManager.historicalInterval
    got = [(i.key, i.name, i.samplingPeriod, i.length, i.level, i.enabled) for i in intervals]
    assert got == [
        (1, "Past day", 300, 86400, 1, True),
        (2, "Past week", 1800, 604800, 1, True),
        (3, "Past month", 7200, 2592000, 1, True),
        (4, "Past year", 86400, 31536000, 1, True),
    ]


def test_simulator_restart_keeps_port() -> None:
    with Simulator(vms=2) as s:
        port = s.port
        s.restart()
        assert s.port == port


def test_simulator_restart_serves_again() -> None:
    with Simulator(vms=2) as s:
        s.restart()
        si = s.connect()
        try:
            assert count_by_type(si, vim.VirtualMachine) == 2
        finally:
            disconnect(si)


def test_simulator_stop_ends_process() -> None:
    s = Simulator(vms=1)
    s.start()
    pid = s.pid
    assert pid is not None
    s.close()
    assert not alive(pid)


def test_simulator_exits_when_parent_stdin_closes() -> None:
    s = Simulator(vms=1)
    s.start()
    try:
        proc = s._proc
        assert proc is not None and proc.stdin is not None
        proc.stdin.close()  # what the kernel does when our process dies
        assert proc.wait(10) == 0
    finally:
        s.close()


def test_topology_for_vms_spreads_hosts_with_vm_count() -> None:
    assert Topology.for_vms(100).hosts_per_cluster == 2
    assert Topology.for_vms(2000).hosts_per_cluster == 32
