"""Frames spoken between the proxy's backend (ROUTER) and workers (DEALER).

Every message starts with :data:`PROTOCOL_TAG` and a command frame:

worker -> proxy
    ``READY  <info json>``           announce (again) the agents served and slots per agent
    ``HEARTBEAT``                    I am alive
    ``REPLY  <request id> <reply>``  the reply to a request
    ``DISCONNECT``                   I am leaving; give my requests to someone else

proxy -> worker
    ``REQUEST <request id> <deadline ms> <request>``
    ``HEARTBEAT``
    ``RESYNC``                       I do not know you (I restarted): send READY
    ``DISCONNECT``                   I am shutting down
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from vpoller.constants import HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS, PROTOCOL_TAG
from vpoller.errors import TransportError

# Both sides heartbeat every HEARTBEAT_S and count a peer dead after
# PEER_EXPIRY_S of silence.
HEARTBEAT_S = HEARTBEAT_INTERVAL_MS / 1000
PEER_EXPIRY_S = HEARTBEAT_S * HEARTBEAT_LIVENESS

READY = b"READY"
HEARTBEAT = b"HEARTBEAT"
REPLY = b"REPLY"
REQUEST = b"REQUEST"
RESYNC = b"RESYNC"
DISCONNECT = b"DISCONNECT"

WORKER_COMMANDS = frozenset({READY, HEARTBEAT, REPLY, DISCONNECT})
PROXY_COMMANDS = frozenset({REQUEST, HEARTBEAT, RESYNC, DISCONNECT})


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker announces in READY."""

    agents: dict[str, int]  # agent host -> concurrent requests it takes for that agent
    pid: int
    hostname: str
    non_idempotent: frozenset[str] = frozenset()
    draining: bool = False  # finishing its requests before it leaves; takes no new ones

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "agents": self.agents,
                "pid": self.pid,
                "hostname": self.hostname,
                "non_idempotent": sorted(self.non_idempotent),
                "draining": self.draining,
            }
        )

    @classmethod
    def decode(cls, frame: bytes) -> WorkerInfo:
        try:
            raw: Any = orjson.loads(frame)
            agents = {str(k): max(1, int(v)) for k, v in raw["agents"].items()}
            return cls(
                agents=agents,
                pid=int(raw.get("pid", 0)),
                hostname=str(raw.get("hostname", "")),
                non_idempotent=frozenset(str(m) for m in raw.get("non_idempotent", ())),
                draining=bool(raw.get("draining", False)),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TransportError(f"malformed READY info: {exc}") from None


def split_command(frames: list[bytes], commands: frozenset[bytes]) -> tuple[bytes, list[bytes]]:
    """Check the tag and command of a protocol message; return (command, arguments)."""
    if len(frames) < 2 or frames[0] != PROTOCOL_TAG:
        raise TransportError("message without the protocol tag")
    command = frames[1]
    if command not in commands:
        raise TransportError(f"unknown command {command[:20]!r}")
    return command, frames[2:]
