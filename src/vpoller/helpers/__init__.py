"""Result helpers: per-request formatters that turn a reply into what a client expects.

A helper is any importable module that defines
``format(request: Request, reply: Reply) -> str | Reply``. The worker loads the
helpers enabled in ``[worker] helpers`` once with :func:`load_helpers` and runs
the one a request names with :func:`apply_helper`; a returned ``str`` is sent as
the reply frame verbatim (UTF-8), a returned ``Reply`` as JSON.

Built-in helpers (``vpoller.constants.DEFAULT_HELPERS``): ``zabbix``,
``czabbix``, ``cclient`` and ``csvhelper``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping

from vpoller.errors import HelperError
from vpoller.request import Reply, Request

__all__ = ["HelperFunc", "apply_helper", "load_helpers"]

logger = logging.getLogger(__name__)

HelperFunc = Callable[[Request, Reply], str | Reply]


def load_helpers(names: Iterable[str]) -> dict[str, HelperFunc]:
    """Import each helper module by its dotted path and return its ``format`` by name.

    Blank names are skipped. Raises :class:`HelperError` for a module that cannot
    be imported or that has no callable ``format``.
    """
    helpers: dict[str, HelperFunc] = {}
    for raw_name in names:
        name = raw_name.strip()
        if not name or name in helpers:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise HelperError(f"Cannot load helper {name}: {exc}") from exc
        func = getattr(module, "format", None)
        if not callable(func):
            raise HelperError(
                f"Cannot load helper {name}: the module has no callable 'format' function"
            )
        helpers[name] = func
    return helpers


def apply_helper(helpers: Mapping[str, HelperFunc], request: Request, reply: Reply) -> str | Reply:
    """Format ``reply`` with the helper ``request`` names; the reply itself when it names none.

    Raises :class:`HelperError` when the helper is not enabled, when it fails, or
    when it returns something that is neither ``str`` nor ``Reply``.
    """
    name = request.helper
    if name is None:
        return reply
    func = helpers.get(name)
    if func is None:
        enabled = ", ".join(sorted(helpers)) or "none"
        raise HelperError(
            f"The helper {name} is not enabled on this worker (enabled helpers: {enabled})"
        )
    try:
        output = func(request, reply)
    except HelperError:
        raise
    except Exception as exc:
        # Helpers may be third-party code with any bug in them; a failing helper
        # must become an error reply for this one request, never kill the worker.
        logger.exception("Helper %s failed on a %s reply", name, request.method)
        raise HelperError(f"The helper {name} failed to format the result: {exc}") from exc
    if not isinstance(output, str | dict):
        raise HelperError(
            f"The helper {name} returned {type(output).__name__}, expected a string or a reply"
        )
    return output
