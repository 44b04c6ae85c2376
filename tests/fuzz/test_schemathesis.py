"""Schemathesis against Telephonist's own OpenAPI document (src/telephonist/api/openapi.json) on a real
server, with the default account's credentials: no 5xx, and every answer's status, content type and body as
documented (status codes include the 4XX Twilio error, which the document describes for every operation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis import Case

from conftest import ACCOUNT_SID, AUTH_TOKEN, Telephonist, running
from telephonist.api.openapi import document

pytestmark = pytest.mark.slow

# Off: negative_data_rejection and positive_data_acceptance (Telephonist, like Twilio, ignores parameters it
# does not know and answers 404 for a well-formed SID that names nothing), and the checks that need links
# between operations, which Twilio's document does not have.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]
CONFIG = schemathesis.Config.from_dict(
    {
        "auth": {"basic": {"username": ACCOUNT_SID, "password": AUTH_TOKEN}},
        # Requests under the default account, which exists, rather than random AC SIDs (all 404s).
        "parameters": {"path.AccountSid": ACCOUNT_SID},
        "generation": {"max-examples": 20, "deterministic": True, "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "operations": [
            {
                # Unset webhook URLs of a number are "" as Twilio sends them, where its document says a URI.
                "include-path-regex": "/IncomingPhoneNumbers",
                "checks": {"response_schema_conformance": {"validate-formats": False}},
            },
        ],
    }
)
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
FROM, TO = "+15005550006", "+15551230000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Telephonist, dict[str, str]]]:
    """One server for every operation, with one resource of each kind the operations address, by SID
    prefix, so fetch, update and delete reach a real row and not only the 404 of a random SID."""
    with running(tmp_path_factory.mktemp("schemathesis")) as tel:
        client = tel.client()
        credential_list = client.sip.credential_lists.create(friendly_name="fuzz")
        sids = [
            client.api.accounts.create(friendly_name="fuzz").sid,  # a subaccount: closing it harms nothing
            client.incoming_phone_numbers.list(limit=1)[0].sid,
            client.messages.create(to=TO, from_=FROM, body="fuzz").sid,
            client.calls.create(to=TO, from_=FROM, twiml="<Response><Pause length='60'/></Response>").sid,
            client.applications.create(friendly_name="fuzz").sid,
            client.new_keys.create(friendly_name="fuzz").sid,
            client.queues.create(friendly_name="fuzz").sid,
            client.sip.domains.create(domain_name="fuzz.sip.twilio.com").sid,
            credential_list.sid,
            client.sip.credential_lists(credential_list.sid)
            .credentials.create(username="fuzz", password="Fuzz-password-1")
            .sid,
        ]
        yield tel, {sid[:2]: sid for sid in sids}


@schema.parametrize()
def test_api(case: Case, server: tuple[Telephonist, dict[str, str]]) -> None:
    tel, real = server
    # Half the generated SIDs of a kind we created (by their first hex digit) name the real resource; not
    # for DELETE, which runs first on each path and would leave the GETs and POSTs after it only 404s.
    for name, value in (case.path_parameters or {}).items():
        sid = real.get(str(value)[:2])
        if name != "AccountSid" and sid and str(value)[2:3] in "01234567" and case.method != "DELETE":
            case.path_parameters[name] = sid
    case.call_and_validate(base_url=tel.base_url)
