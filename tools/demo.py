"""The vPoller demo: a vCenter simulator, a proxy, a worker and real requests.

Every step runs the real command-line programs, so the output shows what a
user sees. Everything started here is stopped at the end.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

WORKDIR = Path(__file__).resolve().parents[1] / ".demo"
BIN = Path(sys.executable).parent


def show(argv: list[str], input_text: str | None = None) -> str:
    """Run a command, echo it and its output, return its stdout."""
    shown = [Path(argv[0]).name, *argv[1:]]
    print(f"\n$ {shlex.join(shown)}")
    run = subprocess.run(argv, capture_output=True, text=True, input=input_text, timeout=120,
                         check=False)
    out = (run.stdout + run.stderr).rstrip()
    if len(out) > 1500:
        out = out[:1500] + "\n... (cut)"
    print(out)
    print(f"[exit status {run.returncode}]")
    return run.stdout


def main() -> int:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    print("== Starting govmomi's vCenter simulator (100 VMs) on a loopback port")
    with Simulator(vms=100) as sim:
        print(f"simulator at {sim.url}, certificate {sim.ca_file}")
        stack = Stack(sim, WORKDIR, processes=2)
        db = str(stack.db)
        vconnector = str(BIN / "vconnector-cli")
        print("\n== Registering the vCenter as a vSphere agent")
        show([vconnector, "-d", db, "init"])
        show([vconnector, "-d", db, "-H", stack.agent, "-U", sim.username, "-P", "-",
              "--port", str(sim.port), "--ca-file", sim.ca_file, "add"],
             input_text=sim.password + "\n")
        show([vconnector, "-d", db, "-H", stack.agent, "enable"])
        show([vconnector, "-d", db, "get"])
        try:
            print("\n== Starting vpoller-proxy and vpoller-worker (2 processes)")
            stack.start_proxy()
            stack.start_worker()
            stack.wait_ready()
            print(f"proxy frontend {stack.frontend}, backend {stack.endpoints['backend']}")
            client = [str(BIN / "vpoller-client"), "-e", stack.frontend, "-V", stack.agent]
            print("\n== Real requests")
            show([*client, "-m", "about", "-p", "fullName,apiVersion"])
            show([*client, "-m", "host.discover", "-p", "runtime.connectionState"])
            show([*client, "-m", "vm.get", "-n", "DC0_H0_VM0",
                  "-p", "runtime.powerState,summary.config.numCpu,config.instanceUuid"])
            show([*client, "-m", "vm.get", "-n", "DC0_H0_VM0", "-p", "runtime.powerState",
                  "-H", "vpoller.helpers.zabbix"])
            show([*client, "-m", "datastore.discover", "-H", "vpoller.helpers.zabbix"])
            show([*client, "-m", "host.perf.metric.get", "-n", "DC0_H0",
                  "-c", "cpu.usage.percent.average", "-s", "2", "-i", ""])
            print("\n== The same through the C client")
            show([str(BIN / "vpoller-cclient"), "-e", stack.frontend, "-V", stack.agent,
                  "-m", "vm.get", "-n", "DC0_H0_VM0", "-p", "runtime.powerState"])
            print("\n== Bad input gets a clear error, and the stack keeps serving")
            show([*client, "-m", "vm.get", "-n", "no-such-vm", "-p", "name"])
            show([*client, "-m", "vm.explode"])
            show([str(BIN / "vpoller-client"), "-e", stack.frontend, "-V", "unknown-vc",
                  "-m", "about"])
            print("\n== Management")
            show([str(BIN / "vpoller-proxy"), "-e", stack.endpoints["mgmt"], "status"])
            show([str(BIN / "vpoller-worker"), "-e", stack.worker_mgmt[0], "stop"])
            show([str(BIN / "vpoller-proxy"), "-e", stack.endpoints["mgmt"], "stop"])
        finally:
            stack.close()
    print("\n== Demo finished: simulator, proxy and worker stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
