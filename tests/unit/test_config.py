"""The configuration file: defaults, SPEC's sample, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpoller import config
from vpoller import constants as c
from vpoller.errors import ConfigError

SPEC_SAMPLE = """
[proxy]
frontend = tcp://*:10123
backend  = tcp://*:10124
mgmt     = tcp://*:9999

[worker]
db      = /var/lib/vconnector/vconnector.db
proxy   = tcp://localhost:10124
mgmt    = tcp://*:10000
helpers = vpoller.helpers.zabbix, vpoller.helpers.czabbix
tasks   = vpoller.vsphere.tasks

[cache]
enabled      = True
maxsize      = 0
ttl          = 3600
housekeeping = 480
"""


def test_config_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings = config.load(tmp_path / "absent.conf")
    assert settings == config.Settings()
    assert settings.worker.proxy == (c.DEFAULT_WORKER_PROXY,)
    assert settings.worker.tasks == (c.DEFAULT_TASKS_MODULE,)


def test_config_spec_sample_parses() -> None:
    settings = config.parse(SPEC_SAMPLE)
    assert settings.proxy.mgmt == "tcp://*:9999"
    assert settings.worker.helpers == ("vpoller.helpers.zabbix", "vpoller.helpers.czabbix")
    assert settings.cache.ttl == 3600


def test_config_missing_section_keeps_defaults() -> None:
    settings = config.parse("[proxy]\nfrontend = tcp://127.0.0.1:5555\n")
    assert settings.proxy.frontend == "tcp://127.0.0.1:5555"
    assert settings.proxy.backend == c.DEFAULT_PROXY_BACKEND
    assert settings.worker == config.WorkerSettings()


def test_config_worker_serves_several_proxies() -> None:
    settings = config.parse("[worker]\nproxy = tcp://a:10124, tcp://b:10124\n")
    assert settings.worker.proxy == ("tcp://a:10124", "tcp://b:10124")


def test_config_bad_integer_names_section_and_key() -> None:
    with pytest.raises(ConfigError, match=r"\[proxy\] queue_limit must be an integer"):
        config.parse("[proxy]\nqueue_limit = lots\n")


def test_config_bad_float_names_section_and_key() -> None:
    with pytest.raises(ConfigError, match=r"\[worker\] connect_timeout_s must be a number"):
        config.parse("[worker]\nconnect_timeout_s = soon\n")


def test_config_float_accepts_fractions() -> None:
    assert config.parse("[worker]\nconnect_timeout_s = 2.5\n").worker.connect_timeout_s == 2.5


def test_config_bad_boolean_is_an_error() -> None:
    with pytest.raises(ConfigError, match="must be true or false"):
        config.parse("[cache]\nenabled = perhaps\n")


def test_config_empty_value_means_default() -> None:
    settings = config.parse("[worker]\nkey_file =\nthreads =\n")
    assert settings.worker.key_file is None
    assert settings.worker.threads == c.DEFAULT_WORKER_THREADS


def test_config_zero_processes_is_refused() -> None:
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        config.parse("[worker]\nconcurrency = 0\n")


def test_config_mirror_lists_properties_per_type() -> None:
    settings = config.parse(
        "[mirror]\nvm = runtime.powerState, summary.quickStats.overallCpuUsage\n"
    )
    assert settings.mirror.properties == {
        "vm": ("runtime.powerState", "summary.quickStats.overallCpuUsage")
    }


def test_config_syntax_error_is_config_error() -> None:
    with pytest.raises(ConfigError):
        config.parse("no section header\n")
