"""The redacting log formatter: no password value survives formatting."""

from __future__ import annotations

import logging
import sys

import pytest

from vpoller.cli.common import LOG_FORMAT, RedactingFormatter, redact
from vpoller.request import Request

SECRET = "pa55-w0rd"


@pytest.mark.parametrize(
    "text",
    [
        f'{{"method": "vm.process.get", "password": "{SECRET}"}}',
        f"{{'username': 'u', 'password': '{SECRET}'}}",
        f'b\'{{"Password":"{SECRET}"}}\'',
        f"login user=u password={SECRET} ok",
        f"<password>{SECRET}</password>",
        f'<urn:password xsi:type="xsd:string">{SECRET}</urn:password>',
    ],
)
def test_redact_removes_password_value(text: str) -> None:
    assert SECRET not in redact(text)


def test_redact_keeps_other_values() -> None:
    assert redact('{"username": "guest", "password": "x"}') == (
        '{"username": "guest", "password": "***"}'
    )


def test_redacting_formatter_covers_arguments_and_tracebacks() -> None:
    try:
        raise ValueError(f"bad request {{'password': '{SECRET}'}}")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.DEBUG, __file__, 1, "raw %s", ({"password": SECRET},), sys.exc_info()
        )
    out = RedactingFormatter(LOG_FORMAT).format(record)
    assert SECRET not in out
    assert "ValueError" in out


def test_request_redacted_hides_password() -> None:
    request = Request.from_object(
        {"method": "vm.process.get", "hostname": "vc", "username": "u", "password": SECRET}
    )
    assert request.redacted()["password"] == "***"
    assert SECRET not in repr(request)
