"""The configuration file (``/etc/vpoller/vpoller.conf``, INI) as typed settings.

Every key has a working default; a missing file or section is not an error.
"""

from __future__ import annotations

import configparser
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from vpoller import constants as c
from vpoller.errors import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T", int, float)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.replace("\n", ",").split(",") if part.strip())


@dataclass(frozen=True)
class CurveSettings:
    """CURVE security for ZeroMQ endpoints; off unless ``enabled``."""

    enabled: bool = False
    secret_key: str | None = None  # this component's key-pair file (zcert format)
    server_key: str | None = None  # the proxy's public key file (for workers and clients)
    authorized_keys: str | None = None  # folder of allowed clients' public key files


@dataclass(frozen=True)
class ProxySettings:
    """The ``[proxy]`` section."""

    frontend: str = c.DEFAULT_PROXY_FRONTEND
    backend: str = c.DEFAULT_PROXY_BACKEND
    mgmt: str = c.DEFAULT_PROXY_MGMT
    request_timeout_ms: int = c.DEFAULT_TIMEOUT_MS
    queue_limit: int = c.QUEUE_LIMIT
    max_message_bytes: int = c.MAX_MESSAGE_BYTES
    metrics_port: int = 0  # 0: no Prometheus endpoint
    metrics_address: str = c.DEFAULT_METRICS_ADDRESS


@dataclass(frozen=True)
class WorkerSettings:
    """The ``[worker]`` section."""

    db: str = c.DEFAULT_REGISTRY_DB
    key_file: str | None = None
    proxy: tuple[str, ...] = (c.DEFAULT_WORKER_PROXY,)
    mgmt: str = c.DEFAULT_WORKER_MGMT
    helpers: tuple[str, ...] = c.DEFAULT_HELPERS
    tasks: tuple[str, ...] = (c.DEFAULT_TASKS_MODULE,)
    concurrency: int = c.DEFAULT_WORKER_PROCESSES
    threads: int = c.DEFAULT_WORKER_THREADS
    agent_concurrency: int = c.DEFAULT_AGENT_CONCURRENCY
    deadline_cap_ms: int = c.REQUEST_DEADLINE_CAP_MS
    connect_timeout_s: float = c.VSPHERE_CONNECT_TIMEOUT_S
    max_message_bytes: int = c.MAX_MESSAGE_BYTES
    metrics_port: int = 0
    metrics_address: str = c.DEFAULT_METRICS_ADDRESS


@dataclass(frozen=True)
class CacheSettings:
    """The ``[cache]`` section (kept for compatibility with existing files)."""

    enabled: bool = True
    maxsize: int = 0
    ttl: int = 3600
    housekeeping: int = 480


@dataclass(frozen=True)
class MirrorSettings:
    """The ``[mirror]`` section: properties kept live in memory, per object type."""

    properties: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """All settings of one configuration file."""

    proxy: ProxySettings = field(default_factory=ProxySettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    mirror: MirrorSettings = field(default_factory=MirrorSettings)
    curve: CurveSettings = field(default_factory=CurveSettings)


def _get(parser: configparser.ConfigParser, section: str, key: str) -> str | None:
    if not parser.has_section(section):
        return None
    value = parser.get(section, key, fallback=None)
    if value is None or not value.strip():
        return None
    return value.strip()


def _number(
    parser: configparser.ConfigParser, section: str, key: str, default: T, kind: type[T]
) -> T:
    raw = _get(parser, section, key)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"[{section}] {key} must be {what}, got {raw!r}") from None


def _int(parser: configparser.ConfigParser, section: str, key: str, default: int) -> int:
    return _number(parser, section, key, default, int)


def _float(parser: configparser.ConfigParser, section: str, key: str, default: float) -> float:
    return _number(parser, section, key, default, float)


def _bool(parser: configparser.ConfigParser, section: str, key: str, default: bool) -> bool:
    raw = _get(parser, section, key)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ConfigError(f"[{section}] {key} must be true or false, got {raw!r}")


def _str(parser: configparser.ConfigParser, section: str, key: str, default: str) -> str:
    raw = _get(parser, section, key)
    return default if raw is None else raw


def _list(
    parser: configparser.ConfigParser, section: str, key: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    raw = _get(parser, section, key)
    return default if raw is None else _split(raw)


def parse(text: str, source: str = "<string>") -> Settings:
    """Parse configuration text; unknown keys are ignored, bad values raise ConfigError."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(f"{source}: {exc}") from None
    p, w = "proxy", "worker"
    proxy = ProxySettings(
        frontend=_str(parser, p, "frontend", c.DEFAULT_PROXY_FRONTEND),
        backend=_str(parser, p, "backend", c.DEFAULT_PROXY_BACKEND),
        mgmt=_str(parser, p, "mgmt", c.DEFAULT_PROXY_MGMT),
        request_timeout_ms=_int(parser, p, "request_timeout_ms", c.DEFAULT_TIMEOUT_MS),
        queue_limit=_int(parser, p, "queue_limit", c.QUEUE_LIMIT),
        max_message_bytes=_int(parser, p, "max_message_bytes", c.MAX_MESSAGE_BYTES),
        metrics_port=_int(parser, p, "metrics_port", 0),
        metrics_address=_str(parser, p, "metrics_address", c.DEFAULT_METRICS_ADDRESS),
    )
    worker = WorkerSettings(
        db=_str(parser, w, "db", c.DEFAULT_REGISTRY_DB),
        key_file=_get(parser, w, "key_file"),
        proxy=_list(parser, w, "proxy", (c.DEFAULT_WORKER_PROXY,)),
        mgmt=_str(parser, w, "mgmt", c.DEFAULT_WORKER_MGMT),
        helpers=_list(parser, w, "helpers", c.DEFAULT_HELPERS),
        tasks=_list(parser, w, "tasks", (c.DEFAULT_TASKS_MODULE,)),
        concurrency=_int(parser, w, "concurrency", c.DEFAULT_WORKER_PROCESSES),
        threads=_int(parser, w, "threads", c.DEFAULT_WORKER_THREADS),
        agent_concurrency=_int(parser, w, "agent_concurrency", c.DEFAULT_AGENT_CONCURRENCY),
        deadline_cap_ms=_int(parser, w, "deadline_cap_ms", c.REQUEST_DEADLINE_CAP_MS),
        connect_timeout_s=_float(parser, w, "connect_timeout_s", c.VSPHERE_CONNECT_TIMEOUT_S),
        max_message_bytes=_int(parser, w, "max_message_bytes", c.MAX_MESSAGE_BYTES),
        metrics_port=_int(parser, w, "metrics_port", 0),
        metrics_address=_str(parser, w, "metrics_address", c.DEFAULT_METRICS_ADDRESS),
    )
    cache = CacheSettings(
        enabled=_bool(parser, "cache", "enabled", True),
        maxsize=_int(parser, "cache", "maxsize", 0),
        ttl=_int(parser, "cache", "ttl", 3600),
        housekeeping=_int(parser, "cache", "housekeeping", 480),
    )
    mirror = MirrorSettings(
        properties={
            kind: _split(value)
            for kind, value in (parser.items("mirror") if parser.has_section("mirror") else [])
            if _split(value)
        }
    )
    curve = CurveSettings(
        enabled=_bool(parser, "curve", "enabled", False),
        secret_key=_get(parser, "curve", "secret_key"),
        server_key=_get(parser, "curve", "server_key"),
        authorized_keys=_get(parser, "curve", "authorized_keys"),
    )
    for section, port in (("proxy", proxy.metrics_port), ("worker", worker.metrics_port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"[{section}] metrics_port must be 0 (off) to 65535, got {port}")
    for name, value in (
        ("threads", worker.threads),
        ("concurrency", worker.concurrency),
        ("agent_concurrency", worker.agent_concurrency),
    ):
        if value < 1:
            raise ConfigError(f"[worker] {name} must be at least 1, got {value}")
    return Settings(proxy=proxy, worker=worker, cache=cache, mirror=mirror, curve=curve)


def load(path: str | Path | None) -> Settings:
    """Load settings from ``path``; a missing file gives the defaults."""
    if path is None:
        path = c.DEFAULT_CONFIG_FILE
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        logger.debug("configuration file %s not found, using defaults", file)
        return Settings()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {file}: {exc.strerror}") from None
    return parse(text, str(file))
