"""Validate JSON response bodies against Twilio's 2010-04-01 OpenAPI document (skips if it is absent)."""

from __future__ import annotations

import copy
import json
import os
import re
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

__all__ = ["SPEC_PATH", "validate_response"]

SPEC_PATH = Path(
    os.environ.get("TELEPHONIST_OPENAPI_SPEC")
    or Path(__file__).resolve().parents[2] / "shared" / "reference" / "twilio_api_v2010.json"
)
_PARAM = re.compile(r"\\\{[^}/]+\\\}")  # a `{Name}` placeholder after re.escape()


def _allow_null_in_enums(node: Any) -> None:
    """OAS 3.0.3: `nullable` does not extend `enum`; Twilio means it to, so add None explicitly. An enum
    whose own description says it is `null` at times (a conference's `reason_conference_ended` while it is
    in progress) gets None too: the document forgot `nullable` there."""
    if isinstance(node, dict):
        documented_null = "`null`" in str(node.get("description", ""))
        if (node.get("nullable") is True or documented_null) and isinstance(node.get("enum"), list):
            node["nullable"] = True
            if None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            _allow_null_in_enums(value)
    elif isinstance(node, list):
        for value in node:
            _allow_null_in_enums(value)


@lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        pytest.skip(
            f"Twilio OpenAPI spec not found at {SPEC_PATH} (set TELEPHONIST_OPENAPI_SPEC to override)"
        )
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    _allow_null_in_enums(spec["components"])
    return spec


@lru_cache(maxsize=1)
def _routes() -> list[tuple[re.Pattern[str], str]]:
    """Path templates as regexes; fewest parameters first, then longest literal text."""
    templates = sorted(_spec()["paths"], key=lambda t: (t.count("{"), -len(re.sub(r"\{[^}]*\}", "", t))))
    return [(re.compile("^" + _PARAM.sub("[^/]+", re.escape(t)) + "$"), t) for t in templates]


def _match_template(path: str) -> str:
    concrete = urlsplit(path).path
    for regex, template in _routes():
        if regex.match(concrete):
            return template
    raise AssertionError(f"no path template in the Twilio OpenAPI spec matches {concrete!r}")


def _rfc2822_utc(value: object) -> bool:
    if not isinstance(value, str):
        return True  # null (where nullable) and type errors are reported by the type keyword
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return value.endswith("+0000")


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time-rfc-2822")(_rfc2822_utc)


@cache
def _response(template: str, method: str, status: int) -> tuple[OAS30Validator | None, frozenset[str] | None]:
    """(validator or None when no body is documented, allowed keys when it is a list page)."""
    spec = _spec()
    operation = spec["paths"][template].get(method.lower())
    if operation is None:
        raise AssertionError(f"{method.upper()} {template} is not an operation in the Twilio OpenAPI spec")
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        documented = sorted(operation.get("responses", {}))
        raise AssertionError(f"{method.upper()} {template}: status {status} not documented ({documented})")
    media = response.get("content", {}).get("application/json")
    if media is None or "schema" not in media:
        return None, None
    schema: dict[str, Any] = media["schema"]
    while "$ref" in schema:
        schema = _resolve(spec, schema["$ref"])
    props: dict[str, Any] = schema.get("properties", {})
    is_list = {"page", "page_size"} <= props.keys() and any(
        isinstance(p, dict) and p.get("type") == "array" for p in props.values()
    )
    root = {"allOf": [copy.deepcopy(media["schema"])], "components": spec["components"]}
    validator = OAS30Validator(root, format_checker=_FORMATS)
    return validator, frozenset(props) if is_list else None


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise AssertionError(f"non-local $ref {ref!r} is not supported")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def validate_response(method: str, path: str, status: int, body: object) -> None:
    """Assert `body` (parsed JSON) is what Twilio's spec documents for `method path` -> `status`."""
    template = _match_template(path)
    validator, list_keys = _response(template, method, status)
    where = f"{method.upper()} {template} -> {status}"
    if status == 204 or validator is None:
        assert body in (None, "", b""), f"{where}: expected an empty body, got {body!r:.200}"
        return
    if list_keys is not None:
        assert isinstance(body, dict), f"{where}: list page must be a JSON object, got {type(body).__name__}"
        extra = sorted(set(body) - list_keys)
        assert not extra, f"{where}: unexpected top-level keys {extra} (allowed: {sorted(list_keys)})"
    errors = sorted(validator.iter_errors(body), key=lambda e: (e.json_path, e.message))
    if errors:
        lines = [f"  {e.json_path}: {e.message}" for e in errors[:20]]
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise AssertionError(
            f"{where}: response does not match the OpenAPI schema\n" + "\n".join(lines) + more
        )
