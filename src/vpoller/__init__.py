"""vPoller: a distributed VMware vSphere API proxy.

The public Python API: :class:`Client` sends requests to a proxy; the error
classes let callers tell the failing layer apart.
"""

from vpoller.client import Client
from vpoller.constants import VERSION
from vpoller.errors import (
    ConfigError,
    HelperError,
    ObjectNotFoundError,
    RegistryError,
    RequestError,
    TransportError,
    VPollerError,
    VSphereError,
)
from vpoller.request import Request

__version__ = VERSION
__all__ = [
    "VERSION",
    "Client",
    "ConfigError",
    "HelperError",
    "ObjectNotFoundError",
    "RegistryError",
    "Request",
    "RequestError",
    "TransportError",
    "VPollerError",
    "VSphereError",
]
