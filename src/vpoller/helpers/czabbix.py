"""The ``vpoller.helpers.czabbix`` helper: the ``zabbix`` helper's text, NUL-terminated.

For C consumers (Zabbix loadable modules) that read the frame as one C string.
"""

from __future__ import annotations

from vpoller.helpers import zabbix
from vpoller.request import Reply, Request


def format(request: Request, reply: Reply) -> str:
    """What :func:`vpoller.helpers.zabbix.format` returns, followed by a NUL byte."""
    return zabbix.format(request, reply) + "\x00"
