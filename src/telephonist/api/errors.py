"""Twilio's error body: {code, message, more_info, status}. Raise TwilioError anywhere in a handler."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response


class TwilioError(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def error_body(code: int, message: str, status: int) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def error_response(err: TwilioError) -> Response:
    headers = {}
    if err.status == 401:
        # httplib2 (twilio 5.x) sends credentials only after a Basic challenge.
        headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return Response(
        json.dumps(error_body(err.code, err.message, err.status)),
        status_code=err.status,
        media_type="application/json",
        headers=headers,
    )


async def handle_twilio_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioError)
    return error_response(exc)


def not_found(path: str) -> TwilioError:
    return TwilioError(20404, f"The requested resource {path} was not found", 404)
