"""Derive Telephonist's OpenAPI document from Twilio's 2010-04-01 one (twilio-oai's twilio_api_v2010.json,
MIT-licensed): the operations Telephonist routes, nothing else, served from a relative `/`.

    python tools/openapi.py path/to/twilio_api_v2010.json      # writes src/telephonist/api/openapi.json
    python tools/openapi.py path/to/twilio_api_v2010.json --check   # exit 1 if the committed one differs

Kept as Twilio wrote it but for four changes, each where the document is wrong about what Twilio (and so
Telephonist) answers: every operation documents its 4XX Twilio error body, which Twilio's leaves out; a
nullable enum (or one whose description says it is `null` at times) accepts null, which OAS 3.0's `nullable`
does not extend to `enum`; the list pages' `uri`, `first_page_uri`… are relative references, not the
absolute URIs `format: uri` demands; and the per-path `servers` (api.twilio.com) are dropped. The output is
deterministic: sorted keys, no timestamps, nothing from the machine it ran on.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

from starlette.routing import Route

import telephonist.api

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "telephonist" / "api" / "openapi.json"
METHODS = ("get", "post", "delete")
ERROR_SCHEMA = "twilio_error"
_PARAM = re.compile(r"\{[^}]*\}")
_URI_NAME = re.compile(r"(?:^|_)uri$")  # uri, first_page_uri, next_page_uri…: the paths of API resources


def routed() -> set[tuple[str, str]]:
    """(path with its parameters blanked to `{}`, method) of every Route in telephonist.api's modules."""
    found: set[tuple[str, str]] = set()
    for module in pkgutil.iter_modules(telephonist.api.__path__):
        routes = getattr(importlib.import_module(f"telephonist.api.{module.name}"), "routes", [])
        for route in routes:
            if isinstance(route, Route):
                found |= {(_PARAM.sub("{}", route.path), m.lower()) for m in route.methods or ()}
    return found


def _allow_null_in_enums(node: Any) -> None:
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


def _relative_page_uris(node: Any) -> None:
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            if _URI_NAME.search(name) and isinstance(value, dict) and value.get("format") == "uri":
                value["format"] = "uri-reference"
        for value in node.values():
            _relative_page_uris(value)
    elif isinstance(node, list):
        for value in node:
            _relative_page_uris(value)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def derive(twilio: dict[str, Any]) -> dict[str, Any]:
    twilio = copy.deepcopy(twilio)  # the changes below are made in place
    implemented = routed()
    paths: dict[str, Any] = {}
    for template, item in twilio["paths"].items():
        key = _PARAM.sub("{}", template)
        operations = {m: op for m, op in item.items() if m in METHODS and (key, m) in implemented}
        if not operations:
            continue
        for operation in operations.values():
            operation["responses"]["4XX"] = {
                "description": "A Twilio error: the request was refused (code, message, more_info, status).",
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}},
            }
        others = {k: v for k, v in item.items() if k not in METHODS and k != "servers"}
        paths[template] = others | operations
    schemas = dict(twilio["components"]["schemas"])
    schemas[ERROR_SCHEMA] = {
        "type": "object",
        "required": ["code", "message", "more_info", "status"],
        "properties": {
            "code": {"type": "integer", "description": "The Twilio error code."},
            "message": {"type": "string"},
            "more_info": {"type": "string", "format": "uri"},
            "status": {"type": "integer", "description": "The HTTP status code."},
        },
    }
    keep: set[str] = set()
    todo = _refs(paths)
    while todo:  # the schemas the kept operations reach, directly or through other schemas
        name = todo.pop()
        keep.add(name)
        todo |= _refs(schemas[name]) - keep
    components = {
        "securitySchemes": twilio["components"]["securitySchemes"],
        "schemas": {name: schemas[name] for name in keep},
    }
    _allow_null_in_enums(components)
    _relative_page_uris(paths)
    tags = {tag for item in paths.values() for m in METHODS if m in item for tag in item[m].get("tags", [])}
    return {
        "openapi": twilio["openapi"],
        "info": {
            "title": "Telephonist REST API (Twilio 2010-04-01)",
            "description": "The operations of Twilio's REST API 2010-04-01 that Telephonist serves, derived "
            "from Twilio's OpenAPI document (twilio-oai, MIT license) by tools/openapi.py.",
            "version": twilio["info"]["version"],
        },
        "servers": [{"url": "/"}],
        "security": twilio["security"],
        "tags": [tag for tag in twilio["tags"] if tag["name"] in tags],
        "paths": paths,
        "components": components,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("twilio", type=Path, help="Twilio's twilio_api_v2010.json")
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed document, write nothing"
    )
    args = parser.parse_args(argv)
    text = render(derive(json.loads(args.twilio.read_text(encoding="utf-8"))))
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.name} is out of date: run tools/openapi.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    paths = json.loads(text)["paths"]
    count = sum(m in item for item in paths.values() for m in METHODS)
    print(f"wrote {OUTPUT.name}: {len(paths)} paths, {count} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
