"""Telephonist's OpenAPI document: the Twilio 2010-04-01 operations it serves (derived by tools/openapi.py),
for schemathesis and anyone generating a client. Public, like Twilio's own: it holds no account data."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@cache
def document_bytes() -> bytes:
    """The document as shipped in the package, read once."""
    return files("telephonist.api").joinpath("openapi.json").read_bytes()


def document() -> dict[str, Any]:
    """A fresh parsed copy of the document, the caller's to change."""
    parsed: dict[str, Any] = json.loads(document_bytes())
    return parsed


async def openapi(request: Request) -> Response:
    return Response(document_bytes(), media_type="application/json")


routes = [Route("/openapi.json", openapi, methods=["GET"])]
