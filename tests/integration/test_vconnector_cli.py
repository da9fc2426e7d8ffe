"""The installed ``vconnector-cli`` program, run as a subprocess against temporary registries."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vpoller.constants import VERSION
from vpoller.registry import Registry

pytestmark = pytest.mark.integration

CLI = Path(sys.executable).parent / "vconnector-cli"
PASSWORD = "Pl41n-T3xt-Secret!"
RUN_TIMEOUT_S = 30

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "vconnector" / "vconnector.db"


@pytest.fixture
def cli(db: Path) -> Run:
    """Run ``vconnector-cli -d <db> <args>``; ``stdin`` is fed to the program."""

    def run(
        *args: str, stdin: str = "", database: Path | None = db
    ) -> subprocess.CompletedProcess[str]:
        db_args = [] if database is None else ["-d", str(database)]
        return subprocess.run(
            [str(CLI), *db_args, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )

    return run


@pytest.fixture
def ready(cli: Run) -> Run:
    """``cli`` with an initialised registry holding a disabled agent vc01."""
    assert cli("init").returncode == 0
    assert cli("-H", "vc01", "-U", "admin", "-P", PASSWORD, "add").returncode == 0
    return cli


def agent_line(out: str, host: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [host])


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr


# -- init ---------------------------------------------------------------------------------


def test_init_creates_db_and_key(cli: Run, db: Path) -> None:
    assert cli("init").returncode == 0
    assert db.is_file()
    assert db.with_suffix(".key").is_file()


def test_init_twice_succeeds(cli: Run) -> None:
    cli("init")
    assert cli("init").returncode == 0


def test_init_key_file_option_places_key(cli: Run, tmp_path: Path) -> None:
    key = tmp_path / "elsewhere.key"
    assert cli("--key-file", str(key), "init").returncode == 0
    assert key.is_file()


# -- get ----------------------------------------------------------------------------------


def test_get_lists_agent_columns(ready: Run) -> None:
    out = ready("get").stdout
    assert agent_line(out, "vc01") == ["vc01", "443", "admin", "no", "verified"]


def test_get_shows_no_password(ready: Run) -> None:
    result = ready("-D", "get")
    assert PASSWORD not in result.stdout + result.stderr


def test_get_missing_db_fails(cli: Run) -> None:
    assert_one_line_error(cli("get"), "does not exist")


def test_get_with_host_shows_only_that_agent(ready: Run) -> None:
    ready("-H", "vc02", "-U", "admin", "-P", PASSWORD, "add")
    lines = ready("-H", "vc02", "get").stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["vc02"]


def test_get_shows_insecure_tls(ready: Run) -> None:
    ready("-H", "esx1", "-U", "root", "-P", PASSWORD, "--insecure", "add")
    assert agent_line(ready("get").stdout, "esx1")[-1] == "INSECURE"


def test_get_shows_ca_file_path(ready: Run, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    ready("-H", "esx1", "-U", "root", "-P", PASSWORD, "--ca-file", str(ca), "add")
    assert agent_line(ready("get").stdout, "esx1")[-1] == str(ca.resolve())


# -- add ----------------------------------------------------------------------------------


def test_add_starts_disabled(ready: Run) -> None:
    assert agent_line(ready("get").stdout, "vc01")[3] == "no"


def test_add_options_before_command_with_port(ready: Run) -> None:
    result = ready("-H", "vc02", "-U", "u", "-P", "p", "--port", "8443", "add")
    assert result.returncode == 0
    assert agent_line(ready("get").stdout, "vc02")[1] == "8443"


def test_add_options_after_command(ready: Run) -> None:
    assert ready("add", "-H", "vc02", "-U", "u", "-P", "p").returncode == 0
    assert agent_line(ready("get").stdout, "vc02")[:3] == ["vc02", "443", "u"]


def test_add_long_options(cli: Run, db: Path) -> None:
    cli("init")
    args = ("--debug", "--database", str(db), "--host", "vc02", "--user", "u", "--pwd", "p")
    assert cli(*args, "add", database=None).returncode == 0


def test_add_duplicate_fails(ready: Run) -> None:
    result = ready("-H", "vc01", "-U", "admin", "-P", PASSWORD, "add")
    assert_one_line_error(result, "already registered")


def test_add_password_from_stdin_is_stored(ready: Run, db: Path) -> None:
    ready("-H", "vc02", "-U", "u", "-P", "-", "add", stdin=PASSWORD + "\n")
    assert Registry(db).get("vc02").password == PASSWORD


def test_add_without_password_fails(ready: Run) -> None:
    assert_one_line_error(ready("-H", "vc02", "-U", "u", "add"), "add needs -U <user> and -P <pwd>")


def test_add_missing_db_fails(cli: Run) -> None:
    assert_one_line_error(cli("-H", "vc01", "-U", "u", "-P", "p", "add"), "does not exist")


def test_add_missing_ca_file_fails(ready: Run, tmp_path: Path) -> None:
    result = ready("-H", "v2", "-U", "u", "-P", "p", "--ca-file", str(tmp_path / "no.pem"), "add")
    assert_one_line_error(result, "no such file")


def test_add_does_not_store_plain_password(ready: Run, db: Path) -> None:
    assert PASSWORD.encode() not in db.read_bytes()


# -- update -------------------------------------------------------------------------------


def test_update_keeps_enabled(ready: Run) -> None:
    ready("-H", "vc01", "enable")
    assert ready("-H", "vc01", "-U", "admin2", "-P", "new", "update").returncode == 0
    assert agent_line(ready("get").stdout, "vc01")[2:4] == ["admin2", "yes"]


def test_update_verify_turns_verification_on(ready: Run) -> None:
    ready("-H", "vc01", "--insecure", "update")
    ready("-H", "vc01", "--verify", "update")
    assert agent_line(ready("get").stdout, "vc01")[-1] == "verified"


def test_update_unknown_host_fails(ready: Run) -> None:
    assert_one_line_error(ready("-H", "nope", "-U", "u", "-P", "p", "update"), "unknown agent")


def test_update_nothing_to_change_fails(ready: Run) -> None:
    assert_one_line_error(ready("-H", "vc01", "update"), "update needs something to change")


# -- enable / disable / remove ------------------------------------------------------------


def test_enable_sets_enabled(ready: Run) -> None:
    assert ready("-H", "vc01", "enable").returncode == 0
    assert agent_line(ready("get").stdout, "vc01")[3] == "yes"


def test_disable_clears_enabled(ready: Run) -> None:
    ready("-H", "vc01", "enable")
    assert ready("-H", "vc01", "disable").returncode == 0
    assert agent_line(ready("get").stdout, "vc01")[3] == "no"


def test_remove_deletes_agent(ready: Run) -> None:
    assert ready("-H", "vc01", "remove").returncode == 0
    assert "vc01" not in ready("get").stdout


@pytest.mark.parametrize("command", ["enable", "disable", "remove"])
def test_host_command_unknown_host_fails(ready: Run, command: str) -> None:
    assert_one_line_error(ready("-H", "nope", command), "unknown agent 'nope'")


@pytest.mark.parametrize("command", ["enable", "disable", "remove"])
def test_host_command_without_host_fails(ready: Run, command: str) -> None:
    result = ready(command)
    assert_one_line_error(result, f"{command} needs -H <host>")
    assert result.returncode == 2


@pytest.mark.parametrize("command", ["enable", "disable", "remove"])
def test_host_command_missing_db_fails(cli: Run, command: str) -> None:
    assert_one_line_error(cli("-H", "vc01", command), "does not exist")


# -- import -------------------------------------------------------------------------------


def test_import_legacy_keeps_enabled(cli: Run, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE hosts (host TEXT, user TEXT, pwd TEXT, enabled INTEGER)")
        conn.execute("INSERT INTO hosts VALUES ('vc09', 'olduser', ?, 1)", (PASSWORD,))
    conn.close()
    cli("init")
    assert cli("import", str(old)).returncode == 0
    assert agent_line(cli("get").stdout, "vc09")[2:4] == ["olduser", "yes"]


def test_import_without_path_fails(cli: Run) -> None:
    cli("init")
    assert_one_line_error(cli("import"), "import needs the legacy registry path")


def test_import_not_legacy_file_fails(cli: Run, db: Path) -> None:
    cli("init")
    assert_one_line_error(cli("import", str(db)), "not a readable legacy vconnector registry")


# -- general ------------------------------------------------------------------------------


def test_version_prints_version(cli: Run) -> None:
    result = cli("-v", database=None)
    assert (result.returncode, result.stdout.strip()) == (0, f"vconnector-cli {VERSION}")


def test_unknown_command_fails(cli: Run) -> None:
    result = cli("frobnicate")
    assert_one_line_error(result, "invalid choice")
    assert result.returncode == 2


def test_debug_logs_at_debug_level(ready: Run) -> None:
    result = ready("-D", "-H", "vc01", "enable")
    assert "DEBUG vpoller.registry: enabled agent vc01" in result.stderr


def test_unsafe_key_file_fails(ready: Run, db: Path) -> None:
    db.with_suffix(".key").chmod(0o644)
    assert_one_line_error(ready("get"), "chmod 600")
