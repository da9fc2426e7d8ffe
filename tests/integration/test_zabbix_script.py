"""``vpoller-zabbix``, the Zabbix external check, against a real stack."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from vpoller.constants import NO_RESPONSE_MSG
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

VM = "DC0_H0_VM0"


def zabbix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpoller.cli.zabbix", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_zabbix_script_get_prints_the_bare_value(stack: Stack) -> None:
    done = zabbix("-e", stack.frontend, "vm.get", stack.agent, VM, "runtime.powerState")
    assert (done.returncode, done.stdout, done.stderr) == (0, "poweredOn\n", "")


def test_zabbix_script_discover_prints_lld_json(stack: Stack) -> None:
    done = zabbix("-e", stack.frontend, "vm.discover", stack.agent)
    rows = json.loads(done.stdout)["data"]
    assert done.returncode == 0
    assert VM in {row["{#VSPHERE.VM.NAME}"] for row in rows}


def test_zabbix_script_empty_arguments_are_absent(stack: Stack) -> None:
    done = zabbix("-e", stack.frontend, "vm.discover", stack.agent, "", "runtime.powerState")
    rows = json.loads(done.stdout)["data"]
    assert {row["{#VSPHERE.VM.RUNTIME.POWERSTATE}"] for row in rows} == {"poweredOn"}


def test_zabbix_script_failed_request_prints_the_msg(stack: Stack) -> None:
    done = zabbix("-e", stack.frontend, "vm.get", stack.agent, "no-such-vm", "runtime.powerState")
    assert "no-such-vm" in done.stdout
    assert not done.stdout.lstrip().startswith("{")


def test_zabbix_script_unknown_agent_prints_the_proxy_msg(stack: Stack) -> None:
    done = zabbix("-e", stack.frontend, "about", "vc.unknown.example")
    assert done.returncode == 1
    assert done.stdout.startswith("No worker serves vSphere agent 'vc.unknown.example'")


def test_zabbix_script_unreachable_proxy_prints_no_response() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = zabbix("-e", f"tcp://127.0.0.1:{port}", "-t", "200", "-r", "1", "about", "vc01")
    assert (done.returncode, done.stdout, done.stderr) == (1, NO_RESPONSE_MSG + "\n", "")
