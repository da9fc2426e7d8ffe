"""Security of the real stack (issue 7): CURVE on every endpoint, refused peers
logged, management closed to strangers, no guest password in any log, TLS to
vCenter verified, and limits on what one request may carry.

Everything runs real ``vpoller-proxy``/``vpoller-worker`` processes on
loopback against the session simulator. A refused CURVE peer gets no answer
at all, so those tests use short client timeouts and expect the client's own
"Did not receive response" error.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vpoller import constants as c
from vpoller.cli.keys import generate
from vpoller.client import Client, management_request
from vpoller.config import CurveSettings, parse
from vpoller.registry import Registry
from vpoller.testing.simulator import Simulator, write_certificate
from vpoller.testing.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
CCLIENT = ROOT / "cclient" / "vpoller-cclient"
REFUSED_TIMEOUT_MS = 1500
GUEST_PASSWORD = "Gu3st-S3cret-7f1c"  # a marker to search the logs for


def _cli(module: str, *args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"vpoller.cli.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _wait_for_log(path: Path, text: str, timeout_s: float = 5.0) -> str:
    deadline = time.monotonic() + timeout_s
    content = ""
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if text in content:
            break
        time.sleep(0.1)
    return content


@pytest.fixture(scope="module")
def curve_stack(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(sim, tmp_path_factory.mktemp("curve-stack"), curve=True)
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


@pytest.fixture
def stranger(tmp_path: Path) -> str:
    """A valid key pair that is in no authorized_keys folder."""
    _, secret = generate(tmp_path / "stranger", "stranger")
    return str(secret)


def _about(stack: Stack) -> dict[str, str]:
    return {"method": "about", "hostname": stack.agent}


# --------------------------------------------------------------------------- keys


def test_keys_generate_secret_file_is_private(tmp_path: Path) -> None:
    run = _cli("keys", "generate", str(tmp_path), "proxy")
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE((tmp_path / "proxy.key_secret").stat().st_mode) == 0o600


def test_keys_generate_public_file_holds_no_secret(tmp_path: Path) -> None:
    _cli("keys", "generate", str(tmp_path), "proxy")
    public = (tmp_path / "proxy.key").read_text(encoding="utf-8")
    assert "public-key" in public
    assert "secret-key" not in public


def test_keys_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    _cli("keys", "generate", str(tmp_path), "proxy")
    before = (tmp_path / "proxy.key_secret").read_bytes()
    run = _cli("keys", "generate", str(tmp_path), "proxy")
    assert run.returncode == 1
    assert "already exist" in run.stderr
    assert (tmp_path / "proxy.key_secret").read_bytes() == before


def test_keys_show_prints_public_key_but_never_the_secret(tmp_path: Path) -> None:
    _cli("keys", "generate", str(tmp_path), "proxy")
    secret_file = (tmp_path / "proxy.key_secret").read_text(encoding="utf-8")
    secret = secret_file.split('secret-key = "')[1].split('"')[0]
    public = secret_file.split('public-key = "')[1].split('"')[0]
    run = _cli("keys", "show", str(tmp_path / "proxy.key_secret"))
    assert run.returncode == 0, run.stderr
    assert f"public-key: {public}" in run.stdout
    assert "secret-key: present" in run.stdout
    assert secret not in run.stdout + run.stderr


def test_keys_show_flags_secret_file_readable_by_others(tmp_path: Path) -> None:
    _cli("keys", "generate", str(tmp_path), "proxy")
    (tmp_path / "proxy.key_secret").chmod(0o644)
    run = _cli("keys", "show", str(tmp_path / "proxy.key_secret"))
    assert "use 0600" in run.stdout


# --------------------------------------------------------------------------- CURVE


def test_curve_authorised_client_gets_reply(curve_stack: Stack) -> None:
    reply = curve_stack.request(_about(curve_stack))
    assert isinstance(reply, dict)
    assert reply["success"] == 0, reply


def test_curve_client_without_curve_gets_no_answer(curve_stack: Stack) -> None:
    client = Client(curve_stack.frontend, timeout_ms=REFUSED_TIMEOUT_MS, retries=1)
    assert client.run_raw(_about(curve_stack)) is None


def test_curve_client_with_unknown_key_gets_no_answer(curve_stack: Stack, stranger: str) -> None:
    curve = CurveSettings(enabled=True, secret_key=stranger, server_key=curve_stack.key("proxy"))
    client = Client(curve_stack.frontend, timeout_ms=REFUSED_TIMEOUT_MS, retries=1, curve=curve)
    assert client.run_raw(_about(curve_stack)) is None


def test_curve_client_with_wrong_server_key_gets_no_answer(curve_stack: Stack) -> None:
    curve = CurveSettings(
        enabled=True,
        secret_key=curve_stack.key("client", secret=True),
        server_key=curve_stack.key("worker"),
    )
    client = Client(curve_stack.frontend, timeout_ms=REFUSED_TIMEOUT_MS, retries=1, curve=curve)
    assert client.run_raw(_about(curve_stack)) is None


def test_curve_refused_key_is_logged_with_the_key(curve_stack: Stack, stranger: str) -> None:
    curve = CurveSettings(enabled=True, secret_key=stranger, server_key=curve_stack.key("proxy"))
    Client(curve_stack.frontend, timeout_ms=500, retries=1, curve=curve).run_raw(
        _about(curve_stack)
    )
    public = (Path(stranger).with_suffix(".key")).read_text(encoding="utf-8")
    key = public.split('public-key = "')[1].split('"')[0]
    log = _wait_for_log(curve_stack.workdir / "proxy.log", key)
    assert f"WARNING vpoller.transport: refused CURVE client {key}" in log


def test_curve_client_without_curve_is_logged(curve_stack: Stack) -> None:
    # Refusals of one kind are logged once per interval, so an earlier test's
    # plain client may have produced the line already: wait for it in the log.
    Client(curve_stack.frontend, timeout_ms=REFUSED_TIMEOUT_MS, retries=1).run_raw(
        _about(curve_stack)
    )
    line = "WARNING vpoller.transport: refused a peer on frontend"
    log = _wait_for_log(curve_stack.workdir / "proxy.log", line)
    assert line in log
    assert "CURVE handshake failed" in log


def test_curve_proxy_mgmt_shutdown_from_stranger_is_refused(
    curve_stack: Stack, stranger: str
) -> None:
    curve = CurveSettings(enabled=True, secret_key=stranger, server_key=curve_stack.key("proxy"))
    reply = management_request(curve_stack.endpoints["mgmt"], "shutdown", 1500, curve)
    assert reply["msg"] == c.NO_RESPONSE_MSG
    time.sleep(0.5)
    assert curve_stack.proxy is not None
    assert curve_stack.proxy.poll() is None
    assert curve_stack.proxy_status()["success"] == 0


def test_curve_proxy_mgmt_shutdown_without_curve_is_refused(curve_stack: Stack) -> None:
    reply = management_request(curve_stack.endpoints["mgmt"], "shutdown", 1500)
    assert reply["msg"] == c.NO_RESPONSE_MSG
    time.sleep(0.5)
    assert curve_stack.proxy_status()["success"] == 0


def test_curve_worker_mgmt_shutdown_from_stranger_is_refused(
    curve_stack: Stack, stranger: str
) -> None:
    curve = CurveSettings(enabled=True, secret_key=stranger, server_key=curve_stack.key("worker"))
    reply = management_request(curve_stack.worker_mgmt[0], "shutdown", 1500, curve)
    assert reply["msg"] == c.NO_RESPONSE_MSG
    time.sleep(0.5)
    assert curve_stack.workers[0].poll() is None
    assert curve_stack.worker_status()["success"] == 0


def test_curve_proxy_status_command_uses_config_keys(curve_stack: Stack) -> None:
    run = _cli(
        "proxy", "-f", str(curve_stack.config_path), "-e", curve_stack.endpoints["mgmt"], "status"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"component": "vpoller-proxy"' in run.stdout


def test_curve_worker_status_command_uses_config_keys(curve_stack: Stack) -> None:
    run = _cli(
        "worker",
        "-f",
        str(curve_stack.worker_config_path),
        "-e",
        curve_stack.worker_mgmt[0],
        "status",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"component": "vpoller-worker"' in run.stdout


def test_curve_python_client_cli_with_keys_gets_reply(curve_stack: Stack) -> None:
    run = _cli(
        "client",
        "-m",
        "about",
        "-V",
        curve_stack.agent,
        "-e",
        curve_stack.frontend,
        "--curve-key",
        curve_stack.key("client", secret=True),
        "--curve-server-key",
        curve_stack.key("proxy"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"success": 0' in run.stdout


def test_curve_cclient_with_zcert_keys_gets_reply(curve_stack: Stack) -> None:
    if not CCLIENT.exists():
        pytest.skip("cclient not built (make -C cclient)")
    run = subprocess.run(
        [
            str(CCLIENT),
            "-m",
            "about",
            "-V",
            curve_stack.agent,
            "-e",
            curve_stack.frontend,
            "-r",
            "1",
            "--curve-server-key",
            curve_stack.key("proxy"),
            "--curve-key",
            curve_stack.key("client", secret=True),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["success"] == 0


def test_curve_cclient_with_stranger_key_gets_no_answer(curve_stack: Stack, stranger: str) -> None:
    if not CCLIENT.exists():
        pytest.skip("cclient not built (make -C cclient)")
    run = subprocess.run(
        [
            str(CCLIENT),
            "-m",
            "about",
            "-V",
            curve_stack.agent,
            "-e",
            curve_stack.frontend,
            "-r",
            "1",
            "-t",
            str(REFUSED_TIMEOUT_MS),
            "--curve-server-key",
            curve_stack.key("proxy"),
            "--curve-key",
            stranger,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert c.NO_RESPONSE_MSG in run.stdout


def test_curve_worker_without_authorised_key_cannot_register(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, start=False, curve=True, authorize_worker=False)
    stack.workdir.mkdir(parents=True, exist_ok=True)
    stack.register_agent()
    stack.start_proxy()
    stack.start_worker()
    log = _wait_for_log(stack.workdir / "proxy.log", "refused CURVE client", timeout_s=10)
    worker_key = Path(stack.key("worker")).read_text(encoding="utf-8")
    key = worker_key.split('public-key = "')[1].split('"')[0]
    assert f"refused CURVE client {key}" in log
    status = stack.proxy_status()
    assert status["success"] == 0, status
    assert status["result"]["workers"] == []


def test_curve_key_added_to_folder_is_accepted_without_restart(
    curve_stack: Stack, tmp_path: Path
) -> None:
    _, secret = generate(tmp_path / "newcomer", "newcomer")
    authorized = curve_stack.keys / "authorized" / "newcomer.key"
    shutil.copy(tmp_path / "newcomer" / "newcomer.key", authorized)
    try:
        curve = CurveSettings(
            enabled=True, secret_key=str(secret), server_key=curve_stack.key("proxy")
        )
        reply = Client(curve_stack.frontend, timeout_ms=5000, retries=1, curve=curve).run(
            _about(curve_stack)
        )
        assert isinstance(reply, dict)
        assert reply["success"] == 0, reply
    finally:
        authorized.unlink()


# --------------------------------------------------------------------------- management


def test_mgmt_endpoints_bind_to_loopback_by_default() -> None:
    settings = parse("")
    assert settings.proxy.mgmt == "tcp://127.0.0.1:9999"
    assert settings.worker.mgmt == "tcp://127.0.0.1:10000"


# --------------------------------------------------------------------------- guest credentials


def test_debug_logs_never_contain_guest_password(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, debug=True)
    request = {
        "method": "vm.process.get",
        "hostname": stack.agent,
        "name": "DC0_H0_VM0",
        "username": "guest-user",
        "password": GUEST_PASSWORD,
    }
    reply = stack.request(request)
    assert isinstance(reply, dict)
    assert "success" in reply
    # A method every worker knows, with the same credentials: logged (redacted).
    reply = stack.request({**request, "method": "about"})
    assert isinstance(reply, dict)
    assert reply["success"] == 0, reply
    stack.close()
    logs = {
        p.name: p.read_text(encoding="utf-8", errors="replace") for p in stack.workdir.glob("*.log")
    }
    assert logs, "the stack wrote no logs"
    assert any("DEBUG" in text for text in logs.values()), "debug logging was not on"
    assert any("guest-user" in text for text in logs.values()), "the request was not logged"
    leaked = [name for name, text in logs.items() if GUEST_PASSWORD in text]
    assert leaked == []


# --------------------------------------------------------------------------- TLS to vCenter


def test_tls_agent_with_wrong_ca_is_refused_naming_the_fix(
    sim: Simulator, make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    (tmp_path / "other-ca").mkdir()
    other_ca, _ = write_certificate(tmp_path / "other-ca")
    stack = make_stack(sim, start=False)
    stack.workdir.mkdir(parents=True, exist_ok=True)
    stack.register_agent(ca_file=str(other_ca))
    stack.start_proxy()
    stack.start_worker()
    deadline = time.monotonic() + 20
    reply: dict[str, object] | str = {}
    while time.monotonic() < deadline:
        reply = stack.request(_about(stack), timeout_ms=8000)
        if isinstance(reply, dict) and "certificate" in str(reply.get("msg", "")):
            break
        time.sleep(0.2)
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    msg = str(reply["msg"])
    assert "certificate" in msg
    assert "--ca-file" in msg
    assert "--insecure" in msg


def test_tls_agent_marked_insecure_connects_without_ca(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, start=False)
    stack.workdir.mkdir(parents=True, exist_ok=True)
    stack.register_agent()
    Registry(stack.db).update(stack.agent, ca_file="", insecure=True)
    stack.start_proxy()
    stack.start_worker()
    stack.wait_ready()
    reply = stack.request(_about(stack))
    assert isinstance(reply, dict)
    assert reply["success"] == 0, reply


# --------------------------------------------------------------------------- limits


def test_request_over_property_cap_gets_error_naming_limit(stack: Stack) -> None:
    properties = [f"p{i}" for i in range(c.MAX_PROPERTIES_PER_REQUEST + 1)]
    reply = stack.request(
        {"method": "vm.get", "hostname": stack.agent, "name": "x", "properties": properties}
    )
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert f"limit of {c.MAX_PROPERTIES_PER_REQUEST}" in reply["msg"]
    assert "'properties'" in reply["msg"]


def test_request_over_name_cap_gets_error_naming_limit(stack: Stack) -> None:
    names = [f"vm{i}" for i in range(c.MAX_NAMES_PER_REQUEST + 1)]
    reply = stack.request(
        {"method": "vm.get", "hostname": stack.agent, "name": names, "properties": ["name"]}
    )
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert f"limit of {c.MAX_NAMES_PER_REQUEST}" in reply["msg"]
    assert "'name'" in reply["msg"]


def test_request_over_message_size_gets_error_naming_limit(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, proxy_extra="max_message_bytes = 4096")
    reply = stack.request({"method": "about", "hostname": stack.agent, "key": "x" * 5000})
    assert isinstance(reply, dict)
    assert reply["success"] == 1
    assert "exceeds the limit of 4096 bytes" in reply["msg"]


def test_request_far_over_socket_limit_gets_no_crash(
    sim: Simulator, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(sim, proxy_extra="max_message_bytes = 1024")
    # 64 x the limit is refused by ZeroMQ itself: the peer is dropped, unanswered.
    huge = Client(stack.frontend, timeout_ms=REFUSED_TIMEOUT_MS, retries=1)
    assert huge.send_frame(b"x" * (1024 * 64 + 1)) is None
    reply = stack.request(_about(stack))
    assert isinstance(reply, dict)
    assert reply["success"] == 0, reply
