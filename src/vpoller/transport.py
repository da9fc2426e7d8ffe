"""ZeroMQ socket set-up shared by every component: limits, linger and CURVE.

CURVE is opt-in by configuration. A server socket (proxy frontend, backend,
management endpoints) loads its key pair and has ZAP check clients against a
folder of allowed public keys; a client socket loads its key pair and the
server's public key.
"""

from __future__ import annotations

import logging
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from vpoller.config import CurveSettings
from vpoller.errors import TransportError

logger = logging.getLogger(__name__)

# Frames larger than this are refused by ZeroMQ itself (the peer is dropped);
# below it, components answer an oversized request with an error reply.
SOCKET_MAX_BYTES_FACTOR = 64


def load_keypair(path: str) -> tuple[bytes, bytes]:
    """Read a zcert key file (public and, when present, secret key)."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot load CURVE key file {path}: {exc}") from None
    if secret is None:
        raise TransportError(f"CURVE key file {path} holds no secret key")
    return public, secret


def load_public_key(path: str) -> bytes:
    """Read the public key of a zcert key file."""
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot load CURVE public key {path}: {exc}") from None
    return public


def make_server_socket(
    ctx: zmq.Context[zmq.Socket[bytes]],
    kind: int,
    endpoint: str,
    curve: CurveSettings,
    max_message_bytes: int,
) -> zmq.Socket[bytes]:
    """Create and bind a socket that others connect to."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes * SOCKET_MAX_BYTES_FACTOR)
    if curve.enabled:
        if not curve.secret_key:
            raise TransportError("CURVE is enabled but [curve] secret_key is not set")
        public, secret = load_keypair(curve.secret_key)
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise TransportError(f"cannot bind {endpoint}: {exc}") from None
    return sock


def make_client_socket(
    ctx: zmq.Context[zmq.Socket[bytes]],
    kind: int,
    endpoint: str,
    curve: CurveSettings,
    max_message_bytes: int,
) -> zmq.Socket[bytes]:
    """Create and connect a socket to a server endpoint."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes * SOCKET_MAX_BYTES_FACTOR)
    if curve.enabled:
        if not curve.secret_key or not curve.server_key:
            raise TransportError("CURVE is enabled but secret_key or server_key is not set")
        public, secret = load_keypair(curve.secret_key)
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_serverkey = load_public_key(curve.server_key)
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise TransportError(f"cannot connect to {endpoint}: {exc}") from None
    return sock


def start_authenticator(ctx: zmq.Context[zmq.Socket[bytes]], curve: CurveSettings) -> object | None:
    """Start ZAP for CURVE clients whose public keys are in the allowed folder."""
    if not curve.enabled:
        return None
    folder = curve.authorized_keys
    if not folder or not Path(folder).is_dir():
        raise TransportError(f"CURVE is enabled but authorized_keys folder {folder!r} is missing")
    auth = ThreadAuthenticator(ctx, log=logging.getLogger("vpoller.auth"))
    auth.start()
    auth.configure_curve(domain="*", location=folder)
    logger.info("CURVE authentication on; allowed keys from %s", folder)
    return auth
