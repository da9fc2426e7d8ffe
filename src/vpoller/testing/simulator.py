"""Launcher of govmomi's vCenter simulator for tests, the demo and benchmarks.

``Simulator`` runs ``sim/bin/vcsim`` (built on demand by ``sim/build.sh``) on a
loopback port with a fresh EC P-256 certificate, so clients verify TLS against
``ca_file`` exactly as they would against a real vCenter.

Facts measured against govmomi 0.24's simulator (Go 1.19, this launcher, a
2-CPU box shared with other jobs, so times vary by 2x):

- Start to ready line / resident memory, default topology (1 DC, 2 clusters,
  4 datastores, 3 portgroups, VMs powered on): 100 VMs (5 hosts) 0.25-0.5 s /
  27 MB; 2,000 VMs (65 hosts) 3.5-5.5 s / 87 MB; 10,000 VMs (65 hosts)
  22-43 s / 330 MB. Growth is worse than linear (VM creation and GC); stop
  takes up to 1.5 s at 10,000 VMs. The simulator writes every VM's files to
  its datastore folders, so they live in /dev/shm when it exists (4x faster
  than disk).
- Names: datacenter DC0; clusters DC0_C0; cluster hosts DC0_C0_H0; standalone
  hosts DC0_H0 (its ComputeResource has the same name); VMs DC0_C0_RP0_VM0 in
  clusters, DC0_H0_VM0 on standalone hosts (VMs are dealt host by host, so a
  cluster gets VMs in proportion to its hosts; a cluster VM lands on a random
  host of it); datastores LocalDS_0.. (the same names in every datacenter;
  info.url is a bare local folder path, no ds:/// prefix, unique); networks
  "VM Network" (vim.Network) plus, as vim.dvs.DistributedVirtualPortgroup,
  DVS0-DVUplinks-<n> and DC0_DVPG0..; VM NICs use DC0_DVPG<i> round-robin;
  resource pools "Resources" (one per cluster and standalone host) and
  DC0_C0_RP1.. for child pools (empty). about.fullName is "VMware vCenter
  Server 6.5.0 build-5973321", apiVersion 6.5.
- Every VM has config.uuid and config.instanceUuid (the same values on each
  start, as they derive from the name). guest is nearly empty:
  toolsStatus toolsNotInstalled, toolsRunningStatus guestToolsNotRunning, no
  guestId, hostName or ipAddress, guest.net has one NIC with a MAC but no IP or
  network, guest.disk is empty; so vm.disk.* and vm.guest.net.get find nothing.
- Oddities: reading an unset property through pyVmomi's attribute accessor
  (PropertyCollector.Fetch), e.g. vm.snapshot, vm.resourceConfig,
  vm.parentVApp or eventManager.latestEvent, panics inside the simulator: the
  connection drops (RemoteDisconnected) though the server keeps serving.
  RetrievePropertiesEx simply omits unset properties. eventManager.latestEvent
  is never set (use an EventHistoryCollector). An unknown property path comes
  back in missingSet rather than as an InvalidProperty fault as on vCenter.
  Historical QueryPerf of a datacenter or datastore returns no values; VMs and
  hosts get random values for any interval. The simulator keeps no historical
  intervals of its own; the launcher sets vCenter's four defaults.
- Datastore folders are removed on SIGTERM/SIGINT or stdin EOF, not after
  SIGKILL; close() removes the whole temp folder in any case.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import math
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpoller.errors import VPollerError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "sim" / "build.sh"
BINARY = REPO_ROOT / "sim" / "bin" / "vcsim"

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
BUILD_TIMEOUT_S = 300.0
HOST = "127.0.0.1"
VMS_PER_HOST = 30
MAX_HOSTS_PER_CLUSTER = 32


class SimulatorError(VPollerError):
    """The simulator could not be built, started or stopped."""


@dataclass(frozen=True)
class Topology:
    """The inventory the simulator builds; counts are per datacenter unless noted."""

    vms: int
    datacenters: int = 1
    clusters: int = 2
    hosts_per_cluster: int = 2
    standalone_hosts: int = 1
    datastores: int = 4
    portgroups: int = 3
    pools: int = 0  # child resource pools per cluster; they hold no VMs

    @classmethod
    def for_vms(cls, vms: int, **overrides: int) -> Topology:
        """Return a plausible vCenter topology holding exactly ``vms`` VMs in total.

        Hosts grow with the VM count (about 30 VMs per host, 2 to 32 hosts per
        cluster); ``overrides`` replace any field.
        """
        per_cluster = min(MAX_HOSTS_PER_CLUSTER, max(2, math.ceil(vms / VMS_PER_HOST / 2)))
        fields: dict[str, int] = {"vms": vms, "hosts_per_cluster": per_cluster}
        fields.update(overrides)
        return cls(**fields)

    def __post_init__(self) -> None:
        if (
            min(
                self.vms,
                self.datacenters,
                self.clusters,
                self.hosts_per_cluster,
                self.standalone_hosts,
                self.portgroups,
                self.pools,
            )
            < 0
        ):
            raise ValueError(f"negative count in {self}")
        if self.datastores < 1:
            raise ValueError("the simulator needs at least one datastore")
        if self.vms > 0 and self.expected_counts().hosts == 0:
            raise ValueError("VMs need at least one host")

    def flags(self) -> list[str]:
        """Command-line flags of ``vcsim`` that build this topology."""
        return [
            f"-dc={self.datacenters}",
            f"-cluster={self.clusters}",
            f"-host={self.hosts_per_cluster}",
            f"-standalone-host={self.standalone_hosts}",
            f"-vm={self.vms}",
            f"-ds={self.datastores}",
            f"-pg={self.portgroups}",
            f"-pool={self.pools}",
        ]

    def expected_counts(self) -> InventoryCounts:
        """Managed objects of each type the simulator holds for this topology."""
        dcs = self.datacenters
        # Per datacenter the simulator adds "VM Network" and, once there are
        # portgroups, a DVS whose uplink portgroup is a network too.
        networks = 1 + (self.portgroups + 1 if self.portgroups else 0)
        return InventoryCounts(
            datacenters=dcs,
            clusters=dcs * self.clusters,
            hosts=dcs * (self.clusters * self.hosts_per_cluster + self.standalone_hosts),
            vms=self.vms,
            datastores=dcs * self.datastores,
            networks=dcs * networks,
            # every cluster and standalone host has a root pool "Resources"
            resource_pools=dcs * (self.clusters * (1 + self.pools) + self.standalone_hosts),
        )


@dataclass(frozen=True)
class InventoryCounts:
    """How many managed objects of each vPoller object type an inventory holds."""

    datacenters: int
    clusters: int
    hosts: int
    vms: int
    datastores: int
    networks: int
    resource_pools: int

    def by_vim_type(self) -> dict[str, int]:
        """The counts keyed by pyVmomi type name, e.g. ``vim.VirtualMachine``."""
        return {
            "vim.Datacenter": self.datacenters,
            "vim.ClusterComputeResource": self.clusters,
            "vim.HostSystem": self.hosts,
            "vim.VirtualMachine": self.vms,
            "vim.Datastore": self.datastores,
            "vim.Network": self.networks,
            "vim.ResourcePool": self.resource_pools,
        }


def build_binary() -> Path:
    """Build ``sim/bin/vcsim`` if missing or stale and return its path."""
    log.info("building the simulator with %s", BUILD_SCRIPT)
    try:
        done = subprocess.run(
            [str(BUILD_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SimulatorError(f"cannot run {BUILD_SCRIPT}: {e}") from e
    if done.returncode != 0:
        raise SimulatorError(f"{BUILD_SCRIPT} failed: {done.stderr.strip() or done.stdout.strip()}")
    return BINARY


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed EC P-256 certificate for 127.0.0.1/localhost.

    Returns (certificate PEM, key PEM). The certificate is its own CA, so it
    serves as the ``cafile`` of a verifying client (strict X.509 included).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vPoller test"),
            x509.NameAttribute(NameOID.COMMON_NAME, HOST),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address(HOST)),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Simulator:
    """A vCenter simulator process on a loopback port.

    >>> with Simulator(vms=100) as sim:
    ...     si = sim.connect()
    """

    def __init__(
        self,
        vms: int = 10,
        *,
        topology: Topology | None = None,
        username: str = "vpoller",
        password: str = "vpoller-secret",
        port: int = 0,
        autostart: bool = True,
        start_timeout_s: float = START_TIMEOUT_S,
        **knobs: int,
    ) -> None:
        """Describe a simulator; nothing runs until ``start()``.

        ``vms`` is the exact total VM count, spread over a topology chosen by
        ``Topology.for_vms``; ``knobs`` (datacenters, clusters,
        hosts_per_cluster, standalone_hosts, datastores, portgroups, pools)
        override its fields, or pass a whole ``topology``. ``port`` 0 picks an
        ephemeral port on the first start.
        """
        self.topology = topology if topology is not None else Topology.for_vms(vms, **knobs)
        self._username = username
        self._password = password
        self._port = port
        self._autostart = autostart
        self._start_timeout_s = start_timeout_s
        self._url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._cert: Path | None = None
        self._key: Path | None = None

    # -- properties -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The SDK URL, e.g. ``https://127.0.0.1:40123/sdk``."""
        self._require_running()
        return self._url

    @property
    def host(self) -> str:
        """The address the simulator listens on."""
        return HOST

    @property
    def port(self) -> int:
        """The TCP port; kept across ``restart()``."""
        self._require_running()
        return self._port

    @property
    def username(self) -> str:
        """The only user name the simulator accepts."""
        return self._username

    @property
    def password(self) -> str:
        """The password of ``username``."""
        return self._password

    @property
    def ca_file(self) -> str:
        """PEM file a client uses to verify the simulator's certificate."""
        if self._cert is None:
            raise SimulatorError("the simulator has not been started")
        return str(self._cert)

    @property
    def running(self) -> bool:
        """True while the simulator process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The simulator's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def expected_counts(self) -> InventoryCounts:
        """Managed objects of each type the started inventory holds."""
        return self.topology.expected_counts()

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Start the simulator and wait until it serves (``SimulatorError`` if not)."""
        if self._proc is not None:
            raise SimulatorError("the simulator is already running")
        binary = build_binary()  # a no-op of a few ms when the binary is up to date
        fresh = self._tmp is None
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="vpoller-vcsim-", dir=_fast_tmp())
            self._cert, self._key = write_certificate(Path(self._tmp.name))
        tmp = Path(self._tmp.name)
        args = [
            str(binary),
            f"-listen={HOST}:{self._port}",
            f"-cert={self._cert}",
            f"-key={self._key}",
            f"-username={self._username}",
            f"-password={self._password}",
            f"-autostart={str(self._autostart).lower()}",
            "-exit-on-stdin-eof",
            *self.topology.flags(),
        ]
        log.debug("starting %s", " ".join(a for a in args if not a.startswith("-password")))
        self._stderr = (tmp / "vcsim.stderr").open("wb")
        began = time.monotonic()
        self._proc = subprocess.Popen(
            args,
            # stdin stays open while we live: if this process dies without
            # stop(), the simulator sees EOF and exits instead of lingering.
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "TMPDIR": str(tmp)},
        )
        try:
            ready = self._read_ready_line()
        except BaseException:
            self._terminate()
            if fresh:  # nobody holds our certificate yet: leave nothing behind
                self.close()
            raise
        self._url = str(ready["url"])
        self._port = int(ready["port"])
        log.info(
            "simulator pid %d serves %s (%d VMs) after %.2f s",
            self._proc.pid,
            self._url,
            self.topology.vms,
            time.monotonic() - began,
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the simulator: SIGTERM, then SIGKILL after ``timeout_s``. Idempotent."""
        self._terminate(timeout_s)

    def restart(self) -> None:
        """Stop and start again on the same port with the same certificate."""
        port = self._port
        self.stop()
        self._port = port
        self.start()

    def close(self) -> None:
        """Stop the simulator and delete its certificate and temp files."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._cert = self._key = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- clients --------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A default (verifying) client context that trusts ``ca_file``."""
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(self, username: str | None = None, password: str | None = None) -> Any:
        """Log in with pyVmomi over verified TLS and return the ServiceInstance.

        Credentials default to the simulator's own. A failed login closes its
        connection before raising (e.g. ``vim.fault.InvalidLogin``). Log out
        with ``pyVim.connect.Disconnect(si)``, which also closes the sockets.
        """
        # pyVmomi is slow to import and only test setup code needs it here
        from pyVim import connect  # noqa: PLC0415
        from pyVmomi import vim  # noqa: PLC0415

        # pyVmomi's stubs type these loosely (untyped calls, optional content)
        smart_stub_adapter: Any = connect.SmartStubAdapter
        service_instance: Any = vim.ServiceInstance
        self._require_running()
        stub = smart_stub_adapter(
            host=HOST,
            port=self._port,
            sslContext=self.ssl_context(),
            connectionPoolTimeout=-1,
        )
        si = service_instance("ServiceInstance", stub)
        try:
            si.content.sessionManager.Login(
                username if username is not None else self._username,
                password if password is not None else self._password,
            )
        except BaseException:
            stub.DropConnections()
            raise
        return si

    # -- internals ------------------------------------------------------------

    def _require_running(self) -> None:
        if not self.running:
            raise SimulatorError("the simulator is not running")

    def _stderr_tail(self) -> str:
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "vcsim.stderr"
        try:
            return path.read_text(errors="replace")[-2000:].strip()
        except OSError:
            return ""

    def _read_ready_line(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self._start_timeout_s
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SimulatorError(
                        f"simulator not ready after {self._start_timeout_s} s: "
                        f"{self._stderr_tail()}"
                    )
                if not sel.select(left):
                    continue
                chunk = os.read(self._proc.stdout.fileno(), 4096)
                if not chunk:
                    code = self._proc.wait(STOP_TIMEOUT_S)
                    raise SimulatorError(
                        f"simulator exited with status {code}: {self._stderr_tail()}"
                    )
                buf += chunk
        try:
            ready: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
        except ValueError as e:
            raise SimulatorError(f"bad ready line from simulator: {buf!r}") from e
        return ready

    def _terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("simulator pid %d ignored SIGTERM; killing it", proc.pid)
                    proc.kill()
                    proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
            log.info("simulator pid %d stopped with status %s", proc.pid, proc.returncode)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _fast_tmp() -> str | None:
    """A RAM-backed temp folder if there is one.

    The simulator writes every VM's files into its datastore folders (under
    TMPDIR); on tmpfs a 2,000-VM inventory starts several times faster.
    """
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def binary_available() -> bool:
    """True if the simulator binary exists or Go and govmomi can build it."""
    if os.access(BINARY, os.X_OK):
        return True
    return (
        shutil.which("go") is not None
        and Path("/usr/share/gocode/src/github.com/vmware/govmomi/simulator").is_dir()
    )
