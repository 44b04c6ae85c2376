"""Tests for the OpenAPI response-validation helper in tests/openapi.py, on hand-written payloads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import openapi
from openapi import validate_response

ACCOUNT = "AC" + "a" * 32
MESSAGE = "SM" + "b" * 32
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
MESSAGE_URI = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{MESSAGE}.json"

HAND_WRITTEN_MESSAGE: dict[str, Any] = {
    "account_sid": ACCOUNT,
    "api_version": "2010-04-01",
    "body": "Hello!",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "date_sent": None,
    "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
    "direction": "outbound-api",
    "error_code": None,
    "error_message": None,
    "from": "+14155552345",
    "messaging_service_sid": None,
    "num_media": "0",
    "num_segments": "1",
    "price": None,
    "price_unit": "USD",
    "sid": MESSAGE,
    "status": "queued",
    "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{MESSAGE}/Media.json"},
    "to": "+14155552346",
    "uri": MESSAGE_URI,
}


def _empty_page() -> dict[str, Any]:
    return {
        "end": 0,
        "first_page_uri": f"{MESSAGES}?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{MESSAGES}?PageSize=50&Page=0",
        "messages": [],
    }


@pytest.fixture
def message() -> dict[str, Any]:
    """The spec's own CreateMessage 201 example when present, else a hand-written instance."""
    create = openapi._spec()["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    examples = create["responses"]["201"]["content"]["application/json"].get("examples", {})
    for example in examples.values():
        if isinstance(example.get("value"), dict):
            return copy.deepcopy(example["value"])
    return copy.deepcopy(HAND_WRITTEN_MESSAGE)


def test_spec_num_segments_is_a_nullable_string() -> None:
    prop = openapi._spec()["components"]["schemas"]["api.v2010.account.message"]["properties"]["num_segments"]
    assert prop["type"] == "string" and prop["nullable"] is True


def test_valid_message_instance_passes(message: dict[str, Any]) -> None:
    validate_response("POST", MESSAGES, 201, message)
    validate_response("POST", MESSAGES, 201, HAND_WRITTEN_MESSAGE)


def test_instance_path_with_query_string_and_lowercase_method(message: dict[str, Any]) -> None:
    validate_response("get", MESSAGE_URI + "?foo=bar", 200, message)
    validate_response("POST", f"http://localhost:8080{MESSAGE_URI}", 200, message)


def test_instance_may_carry_undocumented_keys(message: dict[str, Any]) -> None:
    validate_response("POST", MESSAGES, 201, {**message, "telephonist_extra": 1})


def test_nullable_fields_accept_null(message: dict[str, Any]) -> None:
    nulls = {k: None for k in ("num_segments", "date_sent", "error_code", "price", "body", "from")}
    validate_response("POST", MESSAGES, 201, {**message, **nulls})


def test_wrong_field_type_fails_with_json_path(message: dict[str, Any]) -> None:
    message["num_segments"] = 1  # the spec says string
    with pytest.raises(AssertionError, match=r"\$\.num_segments: 1 is not of type 'string'"):
        validate_response("POST", MESSAGES, 201, message)


def test_non_nullable_enum_rejects_unknown_value(message: dict[str, Any]) -> None:
    message["status"] = "teleported"
    with pytest.raises(AssertionError, match=r"\$\.status: 'teleported' is not one of"):
        validate_response("POST", MESSAGES, 201, message)


@pytest.mark.parametrize(
    "value",
    [
        "2019-10-18",
        "2019-10-18T05:01:45Z",
        "Thu, 24 Aug 2023 05:01:45 +0100",
        "Thu, 24 Aug 2023 05:01:45 GMT",
    ],
)
def test_non_rfc2822_utc_date_fails(message: dict[str, Any], value: str) -> None:
    message["date_created"] = value
    with pytest.raises(AssertionError, match=r"\$\.date_created: .*date-time-rfc-2822"):
        validate_response("POST", MESSAGES, 201, message)


def test_empty_list_page_passes() -> None:
    validate_response("GET", MESSAGES + "?PageSize=50", 200, _empty_page())


def test_list_page_with_items_is_validated(message: dict[str, Any]) -> None:
    page = {**_empty_page(), "messages": [message, HAND_WRITTEN_MESSAGE]}
    validate_response("GET", MESSAGES, 200, page)
    page["messages"] = [message, {**HAND_WRITTEN_MESSAGE, "date_updated": "2019-10-18"}]
    with pytest.raises(AssertionError, match=r"\$\.messages\[1\]\.date_updated"):
        validate_response("GET", MESSAGES, 200, page)


def test_list_page_with_extra_key_fails() -> None:
    with pytest.raises(AssertionError, match=r"unexpected top-level keys \['total'\]"):
        validate_response("GET", MESSAGES, 200, {**_empty_page(), "total": 0})


def test_list_page_missing_paging_key_type_fails() -> None:
    with pytest.raises(AssertionError, match=r"\$\.page: '0' is not of type 'integer'"):
        validate_response("GET", MESSAGES, 200, {**_empty_page(), "page": "0"})


def test_204_with_no_body_passes() -> None:
    validate_response("DELETE", MESSAGE_URI, 204, None)
    validate_response("DELETE", MESSAGE_URI, 204, b"")


def test_204_with_a_body_fails(message: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match="expected an empty body"):
        validate_response("DELETE", MESSAGE_URI, 204, message)


def test_undocumented_status_method_or_path_fails() -> None:
    with pytest.raises(AssertionError, match="status 201 not documented"):
        validate_response("GET", MESSAGES, 201, _empty_page())
    with pytest.raises(AssertionError, match="PUT .* is not an operation"):
        validate_response("PUT", MESSAGES, 200, {})
    with pytest.raises(AssertionError, match="no path template"):
        validate_response("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Nope.json", 200, {})


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (MESSAGE_URI, "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"),
        (MESSAGES, "/2010-04-01/Accounts/{AccountSid}/Messages.json"),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{MESSAGE}/Media.json",
            "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json",
        ),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/Local.json",
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/Local.json",
        ),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/PN{'c' * 32}.json",
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
        ),
        (f"/2010-04-01/Accounts/{ACCOUNT}.json", "/2010-04-01/Accounts/{Sid}.json"),
    ],
)
def test_path_matching_prefers_most_specific_template(path: str, template: str) -> None:
    assert openapi._match_template(path) == template


def test_missing_spec_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(openapi, "SPEC_PATH", tmp_path / "missing.json")
    openapi._spec.cache_clear()
    try:
        with pytest.raises(pytest.skip.Exception, match="spec not found"):
            openapi._spec()
    finally:
        openapi._spec.cache_clear()
