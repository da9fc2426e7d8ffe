"""Wire-format constants: default endpoints, timeouts, frame names and limits.

Every number carries its unit in its name.
"""

from __future__ import annotations

from typing import Final

VERSION: Final = "1.0.0"

# Default endpoints (SPEC.md); management binds to loopback unless configured.
DEFAULT_PROXY_FRONTEND: Final = "tcp://*:10123"
DEFAULT_PROXY_BACKEND: Final = "tcp://*:10124"
DEFAULT_PROXY_MGMT: Final = "tcp://127.0.0.1:9999"
DEFAULT_WORKER_PROXY: Final = "tcp://localhost:10124"
DEFAULT_WORKER_MGMT: Final = "tcp://127.0.0.1:10000"
DEFAULT_CLIENT_ENDPOINT: Final = "tcp://localhost:10123"
DEFAULT_METRICS_ADDRESS: Final = "127.0.0.1"  # Prometheus endpoints; the port is off (0) by default
DEFAULT_GATEWAY_LISTEN: Final = "127.0.0.1:8080"
DEFAULT_CONFIG_FILE: Final = "/etc/vpoller/vpoller.conf"
DEFAULT_REGISTRY_DB: Final = "/var/lib/vconnector/vconnector.db"
DEFAULT_TASKS_MODULE: Final = "vpoller.vsphere.tasks"
DEFAULT_HELPERS: Final = (
    "vpoller.helpers.zabbix",
    "vpoller.helpers.czabbix",
    "vpoller.helpers.cclient",
    "vpoller.helpers.csvhelper",
)

# Client behaviour.
DEFAULT_TIMEOUT_MS: Final = 10_000
DEFAULT_RETRIES: Final = 3
NO_RESPONSE_MSG: Final = "Did not receive response, aborting..."

# Proxy <-> worker protocol (ours; see vpoller.protocol).
PROTOCOL_TAG: Final = b"VPW1"
HEARTBEAT_INTERVAL_MS: Final = 500
HEARTBEAT_LIVENESS: Final = 4  # missed intervals before a peer counts as dead
REQUEST_DEADLINE_CAP_MS: Final = 120_000
QUEUE_LIMIT: Final = 10_000  # requests waiting for a worker, proxy-wide

# Limits on what a peer may send.
MAX_MESSAGE_BYTES: Final = 1_048_576
MAX_PROPERTIES_PER_REQUEST: Final = 256
MAX_NAMES_PER_REQUEST: Final = 1_000
MAX_JSON_DEPTH: Final = 32

# Worker defaults.
DEFAULT_WORKER_PROCESSES: Final = 1
DEFAULT_WORKER_THREADS: Final = 8
DEFAULT_AGENT_CONCURRENCY: Final = 8
VSPHERE_CONNECT_TIMEOUT_S: Final = 10.0
CHILD_RESTART_BACKOFF_MAX_S: Final = 30.0
