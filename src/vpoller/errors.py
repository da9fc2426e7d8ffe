"""The exception tree of vPoller: one root, one sub-root per layer.

Errors are translated at layer boundaries (``raise VSphereError(...) from e``)
so that the worker's dispatch loop can turn any of them into an error reply
whose ``msg`` is the exception's text.
"""

from __future__ import annotations


class VPollerError(Exception):
    """Root of every exception vPoller raises on purpose."""


class ConfigError(VPollerError):
    """The configuration file or an option holds a value we cannot use."""


class TransportError(VPollerError):
    """A ZeroMQ socket, endpoint, key or message frame problem."""


class RequestError(VPollerError):
    """A client request is malformed or names something that does not exist."""


class VSphereError(VPollerError):
    """A vSphere call failed: fault, lost session, TLS or connection problem."""


class ObjectNotFoundError(VSphereError):
    """The managed object named in a request is not in the inventory."""


class NotSupportedError(VSphereError):
    """The server lacks a capability that the requested method needs."""


class RegistryError(VPollerError):
    """The agent registry (SQLite database or its key file) cannot be used."""


class HelperError(VPollerError):
    """A result helper is unknown, disabled, or failed to format a result."""
