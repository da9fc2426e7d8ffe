"""Integration tests of ``vpoller-cclient``, the C client (``cclient/``).

The binary is built once per session with ``make -C cclient`` and run as a
subprocess against a fake REP server (a pyzmq socket in a thread that records
each request and answers from a script), or against the real stack when the
``stack`` fixture of ``tests/conftest.py`` is available. Tests that take the
``cclient`` fixture run every invocation twice: natively and under valgrind,
which must find no memory errors and no definite or indirect leaks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.auth

from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CCLIENT_DIR = ROOT / "cclient"
BINARY = CCLIENT_DIR / "vpoller-cclient"
DEFAULT_HELPER = "vpoller.helpers.cclient"
NO_RESPONSE = b'{"success": 1, "msg": "Did not receive response, aborting..."}\n'

EXIT_FAILURE = 1
EXIT_NO_RESPONSE = 2
EXIT_RUNTIME_ERROR = 3
EXIT_USAGE = 64
VALGRIND_ERROR = 99

# Generous per-attempt timeout for exchanges that must succeed: valgrind slows
# the client by an order of magnitude, and a live server answers at once anyway.
LIVE_TIMEOUT_MS = "10000"
# Linux caps one argv string at MAX_ARG_STRLEN (128 KiB including the NUL), so a
# single 1 MB argument cannot reach any program; the long-argument test spreads
# more than 1 MB over every string option instead.
LONG_ARG_BYTES = 120_000

OK_REPLY = b'{"success": 0, "msg": "Successfully retrieved object properties", "result": []}'
VALGRIND = (
    "valgrind",
    "-q",
    "--leak-check=full",
    f"--error-exitcode={VALGRIND_ERROR}",
    "--errors-for-leak-kinds=definite,indirect",
)


# --------------------------------------------------------------------------- fakes


@dataclass
class Answer:
    """What the fake server does with one request: wait, then send (None: stay silent)."""

    reply: bytes | None
    delay_s: float = 0.0


@dataclass
class FakeServer:
    """A REP socket on a random loopback port answering from a script, in a thread.

    The last answer of the script repeats for any further request. The loop is
    bounded by ``lifetime_s`` so a broken test cannot leave it running.
    """

    answers: Sequence[Answer] = (Answer(OK_REPLY),)
    curve_secret: bytes | None = None
    lifetime_s: float = 60.0
    requests: list[list[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.REP)
        self._sock.linger = 0
        if self.curve_secret is not None:
            self._sock.curve_server = True
            self._sock.curve_secretkey = self.curve_secret
        port = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-rep", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.lifetime_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not self._sock.poll(50):
                continue
            frames = self._sock.recv_multipart()
            self.requests.append(frames)
            answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
            if answer.reply is None or self._stop.wait(answer.delay_s):
                return  # silent from now on; the socket stays bound until stop()
            self._sock.send(answer.reply)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close(linger=0)
        self._ctx.term()

    @property
    def request(self) -> dict[str, Any]:
        """The only request received, decoded (exactly one frame of UTF-8 JSON)."""
        assert len(self.requests) == 1, self.requests
        (frames,) = self.requests
        assert len(frames) == 1
        decoded = json.loads(frames[0].decode("utf-8"))
        assert isinstance(decoded, dict)
        return decoded


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeServer]]:
    """Factory of fake servers, all stopped at teardown even when the test fails."""
    servers: list[FakeServer] = []

    def start(*answers: Answer, curve_secret: bytes | None = None) -> FakeServer:
        server = FakeServer(answers or (Answer(OK_REPLY),), curve_secret=curve_secret)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def free_endpoint() -> str:
    """A loopback TCP endpoint with nothing listening behind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


# --------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Run:
    """One finished invocation of the binary."""

    returncode: int
    stdout: bytes
    stderr: bytes
    elapsed_s: float


@dataclass(frozen=True)
class CClient:
    """Runs the binary, optionally under valgrind (then asserting valgrind found nothing)."""

    binary: Path
    valgrind: bool = False

    def __call__(self, *args: str | bytes, timeout_s: float = 90.0) -> Run:
        command: list[str | bytes] = [str(self.binary), *args]
        if self.valgrind:
            command = [*VALGRIND, *command]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        elapsed = time.monotonic() - started
        if self.valgrind:
            assert done.returncode != VALGRIND_ERROR, done.stderr.decode(errors="replace")
        return Run(done.returncode, done.stdout, done.stderr, elapsed)


@pytest.fixture(scope="session")
def cclient_binary() -> Path:
    """Build ``cclient/vpoller-cclient`` once per session."""
    built = subprocess.run(
        ["make", "-C", str(CCLIENT_DIR)], capture_output=True, timeout=300, check=False
    )
    assert built.returncode == 0, built.stderr.decode(errors="replace")
    assert os.access(BINARY, os.X_OK)
    return BINARY


@pytest.fixture
def cclient_native(cclient_binary: Path) -> CClient:
    """The binary, run directly (for timing-sensitive tests)."""
    return CClient(cclient_binary)


@pytest.fixture(params=["native", "valgrind"])
def cclient(request: pytest.FixtureRequest, cclient_binary: Path) -> CClient:
    """The binary, run natively and again under valgrind."""
    if request.param == "valgrind" and shutil.which("valgrind") is None:
        pytest.fail("valgrind is required for the memory checks")
    return CClient(cclient_binary, valgrind=request.param == "valgrind")


def ask(cclient: CClient, server: FakeServer, *args: str | bytes) -> Run:
    """Send one request with ``args`` to ``server``."""
    return cclient("-e", server.endpoint, "-t", LIVE_TIMEOUT_MS, "-r", "1", *args)


# --------------------------------------------------------------------------- build


def test_make_install_honours_prefix_and_destdir(cclient_binary: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "-C", str(CCLIENT_DIR), "install", "PREFIX=/opt/vp", f"DESTDIR={tmp_path}"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    installed = tmp_path / "opt" / "vp" / "bin" / "vpoller-cclient"
    assert os.access(installed, os.X_OK)
    assert installed.read_bytes() == cclient_binary.read_bytes()


# --------------------------------------------------------------------------- request


def test_request_minimal_has_method_hostname_and_default_helper(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "about", "-V", "vc01")
    assert run.returncode == 0, run.stderr
    assert server.request == {"method": "about", "hostname": "vc01", "helper": DEFAULT_HELPER}


def test_request_every_option_maps_to_its_key(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(
        cclient,
        server,
        "--method",
        "vm.perf.metric.get",
        "--vsphere-host",
        "vc01.example.org",
        "--name",
        "vm01",
        "--properties",
        "name,runtime.powerState",
        "--key",
        "/var",
        "--counter",
        "cpu.usagemhz.megaHertz.average",
        "--max-sample",
        "5",
        "--instance",
        "vmnic0",
        "--perf-interval",
        "Past day",
        "--guest-username",
        "root",
        "--guest-password",
        "s3cret",
        "--helper",
        "vpoller.helpers.zabbix",
    )
    assert run.returncode == 0, run.stderr
    assert server.request == {
        "method": "vm.perf.metric.get",
        "hostname": "vc01.example.org",
        "name": "vm01",
        "properties": ["name", "runtime.powerState"],
        "key": "/var",
        "counter-name": "cpu.usagemhz.megaHertz.average",
        "max-sample": 5,
        "instance": "vmnic0",
        "perf-interval": "Past day",
        "username": "root",
        "password": "s3cret",
        "helper": "vpoller.helpers.zabbix",
    }


def test_request_short_options_match_long_options(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(
        cclient,
        server,
        "-m",
        "vm.process.get",
        "-V",
        "vc",
        "-n",
        "vm",
        "-p",
        "cmdLine",
        "-k",
        "java",
        "-c",
        "c.n.u.r",
        "-s",
        "2",
        "-i",
        "x",
        "-T",
        "Past week",
        "-U",
        "u",
        "-P",
        "p",
        "-H",
        "vpoller.helpers.czabbix",
    )
    assert run.returncode == 0, run.stderr
    assert server.request == {
        "method": "vm.process.get",
        "hostname": "vc",
        "name": "vm",
        "properties": ["cmdLine"],
        "key": "java",
        "counter-name": "c.n.u.r",
        "max-sample": 2,
        "instance": "x",
        "perf-interval": "Past week",
        "username": "u",
        "password": "p",
        "helper": "vpoller.helpers.czabbix",
    }


def test_request_properties_trimmed_and_empty_items_dropped(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc", "-p", " name , summary.x,,, config ")
    assert run.returncode == 0, run.stderr
    assert server.request["properties"] == ["name", "summary.x", "config"]


def test_request_empty_instance_is_sent_as_aggregate(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "host.perf.metric.get", "-V", "vc", "-i", "")
    assert run.returncode == 0, run.stderr
    assert server.request["instance"] == ""


def test_request_empty_helper_is_omitted(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "about", "-V", "vc", "-H", "")
    assert run.returncode == 0, run.stderr
    assert server.request == {"method": "about", "hostname": "vc"}


def test_request_last_repeated_option_wins(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc", "-n", "first", "-n", "second")
    assert run.returncode == 0, run.stderr
    assert server.request["name"] == "second"


AWKWARD_NAMES = [
    'vm "quoted"',
    "back\\slash\\",
    "new\nline\r\ttab",
    "ctrl\x01\x1f",
    "Grüße-日本語-😀",
    '{"success": 0}',
    "%s%n%x",
]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_request_awkward_name_round_trips(
    cclient: CClient, fake_server: Callable[..., FakeServer], name: str
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc", "-n", name, "-k", name, "-P", name)
    assert run.returncode == 0, run.stderr
    request = server.request
    assert (request["name"], request["key"], request["password"]) == (name, name, name)


def test_request_keeps_non_ascii_as_utf8(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc", "-n", "Grüße-日本語")
    assert run.returncode == 0, run.stderr
    assert "Grüße-日本語".encode() in server.requests[0][0]


def test_request_invalid_utf8_argument_is_usage_error(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc", "-n", b"bad\xff\xfe")
    assert run.returncode == EXIT_USAGE
    assert b"'name' is not valid UTF-8" in run.stderr
    assert run.stdout == b""
    assert server.requests == []


def test_request_long_arguments_over_one_megabyte(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    unit = 'ü"\\\n-'  # every character needs escaping or is multi-byte
    long = unit * (LONG_ARG_BYTES // len(unit.encode()))
    props = ",".join(["p" * 998] * (LONG_ARG_BYTES // 1000))
    server = fake_server()
    run = ask(
        cclient,
        server,
        "-m",
        "vm.get",
        "-V",
        long,
        "-n",
        long,
        "-p",
        props,
        "-k",
        long,
        "-c",
        long,
        "-i",
        long,
        "-T",
        long,
        "-U",
        long,
        "-P",
        long,
        "-H",
        long,
    )
    assert run.returncode == 0, run.stderr
    assert len(server.requests[0][0]) > 1_000_000
    request = server.request
    for key in (
        "hostname",
        "name",
        "key",
        "counter-name",
        "instance",
        "perf-interval",
        "username",
        "password",
        "helper",
    ):
        assert request[key] == long, key
    assert request["properties"] == ["p" * 998] * (LONG_ARG_BYTES // 1000)


def test_debug_prints_request_with_password_redacted(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = ask(cclient, server, "-d", "-m", "vm.process.get", "-V", "vc", "-U", "u", "-P", "hunter2")
    assert run.returncode == 0, run.stderr
    assert b"hunter2" not in run.stderr
    assert b'"password":"***"' in run.stderr
    assert b'"method":"vm.process.get"' in run.stderr
    assert run.stdout == OK_REPLY + b"\n"
    assert server.request["password"] == "hunter2"


# --------------------------------------------------------------------------- reply


@pytest.mark.parametrize(("success", "status"), [(0, 0), (1, EXIT_FAILURE)])
def test_exit_status_follows_success(
    cclient: CClient, fake_server: Callable[..., FakeServer], success: int, status: int
) -> None:
    reply = json.dumps({"success": success, "msg": "m"}).encode() + b"\x00"
    server = fake_server(Answer(reply))
    run = ask(cclient, server, "-m", "about", "-V", "vc")
    assert run.returncode == status
    assert json.loads(run.stdout) == {"success": success, "msg": "m"}


def test_reply_one_trailing_nul_stripped_and_newline_added(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server(Answer(OK_REPLY + b"\x00"))
    run = ask(cclient, server, "-m", "about", "-V", "vc")
    assert run.returncode == 0, run.stderr
    assert run.stdout == OK_REPLY + b"\n"


def test_reply_without_nul_printed_verbatim(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server(Answer(OK_REPLY))
    run = ask(cclient, server, "-m", "about", "-V", "vc")
    assert run.stdout == OK_REPLY + b"\n"


def test_reply_only_one_nul_stripped(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server(Answer(b"poweredOn\x00\x00"))
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc")
    assert run.stdout == b"poweredOn\x00\n"


def test_reply_plain_value_exits_zero(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server(Answer("Object 'vm ü' not found".encode() + b"\x00"))
    run = ask(cclient, server, "-m", "vm.get", "-V", "vc", "-H", "vpoller.helpers.czabbix")
    assert run.returncode == 0
    assert run.stdout == "Object 'vm ü' not found\n".encode()


def test_reply_json_without_success_exits_zero(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    lld = b'{"data": [{"{#VSPHERE.VM.NAME}": "vm01"}]}'
    server = fake_server(Answer(lld))
    run = ask(cclient, server, "-m", "vm.discover", "-V", "vc")
    assert run.returncode == 0
    assert run.stdout == lld + b"\n"


def test_reply_ending_in_newline_not_doubled(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    csv = b"name,runtime.powerState\r\nvm01,poweredOn\r\n"
    server = fake_server(Answer(csv))
    run = ask(cclient, server, "-m", "vm.discover", "-V", "vc", "-H", "vpoller.helpers.csvhelper")
    assert run.stdout == csv


def test_reply_of_several_megabytes_received_whole(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    result = [{"name": f"vm{i:06d}", "runtime.powerState": "poweredOn"} for i in range(80_000)]
    reply = json.dumps({"success": 0, "msg": "ok", "result": result}).encode()
    assert len(reply) > 4_000_000
    server = fake_server(Answer(reply + b"\x00"))
    run = ask(cclient, server, "-m", "vm.discover", "-V", "vc")
    assert run.returncode == 0
    assert run.stdout == reply + b"\n"


# --------------------------------------------------------------------------- retries


def test_no_response_prints_error_reply_after_retries_times_timeout(
    cclient_native: CClient,
) -> None:
    run = cclient_native("-m", "about", "-V", "vc", "-e", free_endpoint(), "-t", "300", "-r", "3")
    assert run.returncode == EXIT_NO_RESPONSE
    assert run.stdout == NO_RESPONSE
    assert 0.9 <= run.elapsed_s < 5.0


def test_no_response_under_valgrind_is_clean(cclient_binary: Path) -> None:
    run = CClient(cclient_binary, valgrind=True)(
        "-m", "about", "-V", "vc", "-e", free_endpoint(), "-t", "200", "-r", "2"
    )
    assert run.returncode == EXIT_NO_RESPONSE
    assert run.stdout == NO_RESPONSE


def test_retry_uses_fresh_socket_after_timeout(
    cclient_native: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    # The late reply goes to the first, closed socket and is dropped; the REP
    # server then takes the retry from the fresh socket and answers it at once.
    late = Answer(b'{"success": 0, "msg": "late"}', delay_s=0.7)
    server = fake_server(late, Answer(OK_REPLY))
    run = cclient_native("-m", "about", "-V", "vc", "-e", server.endpoint, "-t", "500", "-r", "4")
    assert run.returncode == 0, run.stderr
    assert run.stdout == OK_REPLY + b"\n"
    assert len(server.requests) >= 2
    assert all(frames == server.requests[0] for frames in server.requests)


def test_failover_to_second_endpoint_when_first_has_nothing_behind_it(
    cclient: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    server = fake_server()
    run = cclient(
        "-m",
        "about",
        "-V",
        "vc",
        "-e",
        free_endpoint(),
        "-e",
        server.endpoint,
        "-t",
        "1000",
        "-r",
        "1",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == OK_REPLY + b"\n"
    assert server.request["method"] == "about"


def test_failover_to_second_endpoint_when_first_is_silent(
    cclient_native: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    silent = fake_server(Answer(None))
    live = fake_server()
    run = cclient_native(
        "-m",
        "about",
        "-V",
        "vc",
        "-e",
        silent.endpoint,
        "-e",
        live.endpoint,
        "-t",
        "500",
        "-r",
        "1",
    )
    assert run.returncode == 0, run.stderr
    assert len(silent.requests) == 1
    assert live.request == silent.request


def test_failover_all_endpoints_silent_gives_no_response(
    cclient_native: CClient, fake_server: Callable[..., FakeServer]
) -> None:
    first, second = fake_server(Answer(None)), fake_server(Answer(None))
    run = cclient_native(
        "-m",
        "about",
        "-V",
        "vc",
        "-e",
        first.endpoint,
        "-e",
        second.endpoint,
        "-t",
        "300",
        "-r",
        "1",
    )
    assert run.returncode == EXIT_NO_RESPONSE
    assert run.stdout == NO_RESPONSE
    assert (len(first.requests), len(second.requests)) == (1, 1)
    assert 0.6 <= run.elapsed_s < 5.0


# --------------------------------------------------------------------------- CLI errors


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-m", "about"],
        ["-V", "vc"],
        ["-m", "", "-V", "vc"],
        ["-m", "about", "-V", "vc", "-s", "many"],
        ["-m", "about", "-V", "vc", "-s", "0"],
        ["-m", "about", "-V", "vc", "-s", "99999999999999999999999"],
        ["-m", "about", "-V", "vc", "-r", "0"],
        ["-m", "about", "-V", "vc", "-t", "10s"],
        ["-m", "about", "-V", "vc", "--bogus"],
        ["-m", "about", "-V", "vc", "-t"],
        ["-m", "about", "-V", "vc", "stray"],
        ["-m", "about", "-V", "vc", "--curve-key", "/nonexistent"],
    ],
    ids=lambda args: " ".join(args) or "no-args",
)
def test_usage_error_exits_64_with_usage_on_stderr(cclient: CClient, args: list[str]) -> None:
    run = cclient(*args)
    assert run.returncode == EXIT_USAGE
    assert run.stdout == b""
    assert b"Usage: vpoller-cclient" in run.stderr
    assert run.stderr.startswith(b"vpoller-cclient: ")


def test_help_exits_zero_and_documents_exit_codes(cclient: CClient) -> None:
    run = cclient("--help")
    assert run.returncode == 0
    assert run.stdout.startswith(b"Usage: vpoller-cclient")
    for line in (b"  2   no reply", b"  3   ZeroMQ", b"  64  usage"):
        assert line in run.stdout


def test_version_prints_program_and_version(cclient: CClient) -> None:
    run = cclient("-v")
    assert (run.returncode, run.stdout) == (0, b"vpoller-cclient 1.0.0\n")


@pytest.mark.parametrize("endpoint", ["foo://bar", "tcp://", "not an endpoint"])
def test_invalid_endpoint_exits_3(cclient: CClient, endpoint: str) -> None:
    run = cclient("-m", "about", "-V", "vc", "-e", endpoint, "-t", "200", "-r", "1")
    assert run.returncode == EXIT_RUNTIME_ERROR
    assert run.stdout == b""
    assert f"cannot connect to {endpoint}".encode() in run.stderr


def test_invalid_second_endpoint_fails_before_first_attempt(cclient_native: CClient) -> None:
    run = cclient_native(
        "-m", "about", "-V", "vc", "-e", free_endpoint(), "-e", "foo://bar", "-t", "3000"
    )
    assert run.returncode == EXIT_RUNTIME_ERROR
    assert run.elapsed_s < 2.0


# --------------------------------------------------------------------------- CURVE


@pytest.fixture
def curve_files(tmp_path: Path) -> dict[str, Any]:
    """A server keypair and a client keypair, as key files in the documented format."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server_file = tmp_path / "server.key"
    server_file.write_bytes(b"# vpoller proxy public key\n" + server_public + b"\n")
    client_file = tmp_path / "client.key"
    client_file.write_bytes(b"\n  " + client_public + b"  \n# secret\n" + client_secret)
    client_file.chmod(0o600)
    return {"server_secret": server_secret, "server": str(server_file), "client": str(client_file)}


def test_curve_with_client_keypair_file(
    cclient: CClient, fake_server: Callable[..., FakeServer], curve_files: dict[str, Any]
) -> None:
    server = fake_server(curve_secret=curve_files["server_secret"])
    run = ask(
        cclient,
        server,
        "-m",
        "about",
        "-V",
        "vc",
        "--curve-server-key",
        curve_files["server"],
        "--curve-key",
        curve_files["client"],
    )
    assert run.returncode == 0, run.stderr
    assert server.request["method"] == "about"


def test_curve_with_ephemeral_client_keypair(
    cclient_native: CClient, fake_server: Callable[..., FakeServer], curve_files: dict[str, Any]
) -> None:
    server = fake_server(curve_secret=curve_files["server_secret"])
    run = ask(
        cclient_native,
        server,
        "-m",
        "about",
        "-V",
        "vc",
        "--curve-server-key",
        curve_files["server"],
    )
    assert run.returncode == 0, run.stderr


def test_curve_wrong_server_key_gets_no_response(
    cclient_native: CClient, fake_server: Callable[..., FakeServer], curve_files: dict[str, Any]
) -> None:
    _, other_secret = zmq.curve_keypair()
    server = fake_server(curve_secret=other_secret)
    run = cclient_native(
        "-m",
        "about",
        "-V",
        "vc",
        "-e",
        server.endpoint,
        "-t",
        "300",
        "-r",
        "1",
        "--curve-server-key",
        curve_files["server"],
    )
    assert run.returncode == EXIT_NO_RESPONSE
    assert server.requests == []


def test_curve_zcert_files_of_pyzmq(
    cclient: CClient, fake_server: Callable[..., FakeServer], tmp_path: Path
) -> None:
    server_public_file, server_secret_file = zmq.auth.create_certificates(tmp_path, "proxy")
    _, client_secret_file = zmq.auth.create_certificates(tmp_path, "client")
    _, server_secret = zmq.auth.load_certificate(server_secret_file)
    assert server_secret is not None
    server = fake_server(curve_secret=server_secret)
    run = ask(
        cclient,
        server,
        "-m",
        "about",
        "-V",
        "vc",
        "--curve-server-key",
        str(server_public_file),
        "--curve-key",
        str(client_secret_file),
    )
    assert run.returncode == 0, run.stderr
    assert server.request["method"] == "about"


def test_curve_zcert_public_file_is_not_a_keypair(cclient: CClient, tmp_path: Path) -> None:
    server_public_file, _ = zmq.auth.create_certificates(tmp_path, "proxy")
    client_public_file, _ = zmq.auth.create_certificates(tmp_path, "client")
    run = cclient(
        "-m",
        "about",
        "-V",
        "vc",
        "--curve-server-key",
        str(server_public_file),
        "--curve-key",
        str(client_public_file),
    )
    assert run.returncode == EXIT_RUNTIME_ERROR
    assert b"no secret-key in this key file" in run.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", b"expected 1 key, found 0"),
        (b"tooshort\n", b"a key is 40 Z85 characters"),
        (b"\x7f" * 40 + b"\n", b"not a valid Z85 key"),
        (b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n" * 2, b"found more"),
        (b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\x00\n", b"not a text file"),
    ],
)
def test_curve_bad_server_key_file_exits_3(
    cclient: CClient, tmp_path: Path, content: bytes, message: bytes
) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_bytes(content)
    run = cclient(
        "-m", "about", "-V", "vc", "-e", free_endpoint(), "--curve-server-key", str(key_file)
    )
    assert run.returncode == EXIT_RUNTIME_ERROR
    assert message in run.stderr
    assert run.stdout == b""


def test_curve_missing_key_file_exits_3(cclient: CClient, tmp_path: Path) -> None:
    run = cclient("-m", "about", "-V", "vc", "--curve-server-key", str(tmp_path / "absent"))
    assert run.returncode == EXIT_RUNTIME_ERROR
    assert b"cannot open key file" in run.stderr


def test_curve_client_key_file_needs_two_keys(
    cclient: CClient, curve_files: dict[str, Any]
) -> None:
    run = cclient(
        "-m",
        "about",
        "-V",
        "vc",
        "--curve-server-key",
        curve_files["server"],
        "--curve-key",
        curve_files["server"],
    )
    assert run.returncode == EXIT_RUNTIME_ERROR
    assert b"expected 2 keys, found 1" in run.stderr


# --------------------------------------------------------------------------- real stack


def vm_names_from_pyvmomi(si: Any) -> dict[str, Any]:
    """Every VM of the simulator by name, read with plain pyVmomi."""
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [], True)
    try:
        return {o.name: o for o in view.view if o._wsdlName == "VirtualMachine"}
    finally:
        view.Destroy()


def ask_stack(cclient: CClient, stack: Stack, *args: str) -> Run:
    """Send one request to the stack's proxy frontend."""
    return cclient("-e", stack.frontend, "-V", stack.agent, "-t", "20000", "-r", "1", *args)


def reply_of(run: Run) -> dict[str, Any]:
    """The JSON reply printed by a finished run."""
    assert run.stdout.endswith(b"\n")
    assert b"\x00" not in run.stdout
    reply = json.loads(run.stdout)
    assert isinstance(reply, dict)
    return reply


def test_stack_vm_discover_lists_every_vm(cclient: CClient, stack: Stack, si: Any) -> None:
    run = ask_stack(cclient, stack, "-m", "vm.discover")
    assert run.returncode == 0, run.stderr
    reply = reply_of(run)
    assert reply["success"] == 0
    assert sorted(item["name"] for item in reply["result"]) == sorted(vm_names_from_pyvmomi(si))


def test_stack_vm_get_power_state_matches_pyvmomi(
    cclient_native: CClient, stack: Stack, si: Any
) -> None:
    name, vm = sorted(vm_names_from_pyvmomi(si).items())[0]
    run = ask_stack(cclient_native, stack, "-m", "vm.get", "-n", name, "-p", "runtime.powerState")
    assert run.returncode == 0, run.stderr
    assert reply_of(run)["result"] == [{"name": name, "runtime.powerState": vm.runtime.powerState}]


def test_stack_czabbix_helper_prints_bare_value(
    cclient_native: CClient, stack: Stack, si: Any
) -> None:
    name, vm = sorted(vm_names_from_pyvmomi(si).items())[0]
    run = ask_stack(
        cclient_native,
        stack,
        "-m",
        "vm.get",
        "-n",
        name,
        "-p",
        "runtime.powerState",
        "-H",
        "vpoller.helpers.czabbix",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{vm.runtime.powerState}\n".encode()


def test_stack_about_full_name_matches_pyvmomi(
    cclient_native: CClient, stack: Stack, si: Any
) -> None:
    run = ask_stack(cclient_native, stack, "-m", "about")
    assert run.returncode == 0, run.stderr
    assert reply_of(run)["result"] == [{"fullName": si.content.about.fullName}]


def test_stack_host_perf_metric_get_returns_samples(
    cclient_native: CClient, stack: Stack, si: Any
) -> None:
    import vpoller.vsphere.tasks  # noqa: F401, PLC0415 - registers the task methods
    from vpoller.vsphere.taskregistry import TASKS  # noqa: PLC0415

    if "host.perf.metric.get" not in TASKS:
        pytest.skip("host.perf.metric.get is not implemented yet")
    discover = reply_of(ask_stack(cclient_native, stack, "-m", "host.discover"))
    host = discover["result"][0]["name"]
    run = ask_stack(
        cclient_native,
        stack,
        "-m",
        "host.perf.metric.get",
        "-n",
        host,
        "-c",
        "cpu.usage.percent.average",
        "-i",
        "",
        "-s",
        "2",
    )
    assert run.returncode == 0, run.stderr
    samples = reply_of(run)["result"]
    assert 1 <= len(samples) <= 2
    assert {s["counterId"] for s in samples} == {"cpu.usage.percent.average"}
    assert {s["instance"] for s in samples} == {""}


@pytest.mark.parametrize("name", ['no "such" vm', "ñø-such-vm-日本", "back\\slash\nvm"])
def test_stack_unknown_awkward_name_is_error_naming_it(
    cclient: CClient, stack: Stack, name: str
) -> None:
    run = ask_stack(cclient, stack, "-m", "vm.get", "-n", name, "-p", "runtime.powerState")
    assert run.returncode == EXIT_FAILURE, run.stdout
    reply = reply_of(run)
    assert reply["success"] == 1
    assert name in reply["msg"]
    assert "Traceback" not in reply["msg"]


def test_stack_with_curve_answers_authorised_client(
    cclient: CClient, sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, curve=True)
    run = ask_stack(
        cclient,
        stack,
        "-m",
        "about",
        "--curve-server-key",
        stack.key("proxy"),
        "--curve-key",
        stack.key("client", secret=True),
    )
    assert run.returncode == 0, run.stderr
    assert reply_of(run)["success"] == 0


def test_stack_with_curve_ignores_plain_client(
    cclient_native: CClient, sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, curve=True)
    run = cclient_native("-e", stack.frontend, "-V", stack.agent, "-m", "about", "-t", "500")
    assert run.returncode == EXIT_NO_RESPONSE
    assert run.stdout == NO_RESPONSE
