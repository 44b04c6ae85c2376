"""The OpenAPI document Telephonist serves: exactly what tools/openapi.py derives from Twilio's, every
operation in it routed, and served as packaged."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import schemathesis
from starlette.applications import Starlette

from openapi import SPEC_PATH
from telephonist.api.openapi import document, document_bytes, routes

TOOL = Path(__file__).resolve().parents[2] / "tools" / "openapi.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _get(app: Starlette, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://telephonist") as c:
        return await c.get(path)


def test_served_as_packaged_and_loads_in_schemathesis() -> None:
    app = Starlette(routes=routes)
    response = asyncio.run(_get(app, "/openapi.json"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == document_bytes()
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in loaded.get_all_operations()]  # ok() raises on a broken one
    documented = sum(m in item for item in document()["paths"].values() for m in ("get", "post", "delete"))
    assert len(operations) == documented


def test_every_documented_operation_is_routed(tool: ModuleType) -> None:
    routed = tool.routed()
    doc = document()
    assert doc["servers"] == [{"url": "/"}]
    for path, item in doc["paths"].items():
        assert "servers" not in item, path  # Twilio's per-path api.twilio.com would win over ours
        for method in set(item) & {"get", "post", "delete"}:
            assert (re.sub(r"\{[^}]*\}", "{}", path), method) in routed, f"{method.upper()} {path}"


def test_committed_document_is_what_the_tool_derives(tool: ModuleType) -> None:
    if not SPEC_PATH.is_file():
        pytest.skip(
            f"Twilio OpenAPI spec not found at {SPEC_PATH} (set TELEPHONIST_OPENAPI_SPEC to override)"
        )
    derived = tool.render(tool.derive(json.loads(SPEC_PATH.read_text(encoding="utf-8"))))
    assert derived == document_bytes().decode(), (
        "run tools/openapi.py to regenerate src/telephonist/api/openapi.json"
    )
