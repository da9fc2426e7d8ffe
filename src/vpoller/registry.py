"""The agent registry: vSphere hosts the workers connect to, kept in SQLite.

(Being written: see docs/internals.md for the contract.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgentRecord:
    """One registered vSphere agent (a vCenter or ESXi host)."""

    host: str
    user: str
    password: str = field(repr=False)
    port: int = 443
    enabled: bool = False
    ca_file: str | None = None
    insecure: bool = False
