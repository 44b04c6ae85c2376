"""SIP Domains, CredentialLists, Credentials and CredentialListMappings through the official SDK, every
response checked against Twilio's OpenAPI document; and the look-ups the SIP carrier makes of them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from conftest import Telephonist, assert_twilio_error
from openapi import SPEC_PATH, validate_response
from telephonist.api.accounts import create_account
from telephonist.store import sip as sip_store
from telephonist.store.models import sip_credentials

API = "/2010-04-01"
PASSWORD = "IWasAtSignal2018"
_STORED = select(sip_credentials.c.password)  # every stored password


def validated(method: str, path: str, status: int, body: Any) -> None:
    """Checked against Twilio's OpenAPI document when it is at hand; the tests' own assertions run either
    way (validate_response alone would skip the whole test without it)."""
    if SPEC_PATH.is_file():
        validate_response(method, path, status, body)


class ValidatingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, checking every successful response against the OpenAPI document and
    remembering every body, so a test can look for what must never be in one."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[str] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response = super().request(method, url, *args, **kwargs)
        self.bodies.append(response.text)
        if response.status_code < 400:
            body = json.loads(response.text) if response.text else None
            validated(method, urlsplit(url).path, response.status_code, body)
        return response


def _client(tel: Telephonist, sid: str | None = None, token: str | None = None) -> Client:
    c = Client(sid or tel.account_sid, token or tel.auth_token, http_client=ValidatingHttpClient())
    c.api.base_url = tel.base_url
    return c


@pytest.fixture
def sdk(tel: Telephonist) -> Client:
    return _client(tel)


def _bodies(client: Client) -> list[str]:
    http = client.http_client
    assert isinstance(http, ValidatingHttpClient)
    return http.bodies


def _sip(tel: Telephonist, rest: str, account: str | None = None) -> str:
    return f"{API}/Accounts/{account or tel.account_sid}/SIP/{rest}"


def _other_account(tel: Telephonist, name: str = "Other") -> Client:
    """A top-level account of its own (not a subaccount of the default one)."""
    with tel.db.tx() as conn:
        row = create_account(conn, name)
    return _client(tel, row["sid"], row["auth_token"])


def _error(info: pytest.ExceptionInfo[TwilioRestException], status: int, code: int) -> None:
    assert (info.value.status, info.value.code) == (status, code), info.value.msg


# -- Domains -------------------------------------------------------------------------------------------


def test_domain_create_fetch_list_update_delete(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(
        domain_name="dunder-mifflin.sip.twilio.com",
        friendly_name="Scranton Office",
        voice_url="https://app.example/voice",
        voice_method="GET",
        voice_status_callback_url="https://app.example/status",
        sip_registration=True,
    )
    assert domain.sid.startswith("SD") and len(domain.sid) == 34
    assert domain.account_sid == tel.account_sid
    assert domain.api_version == "2010-04-01"
    assert domain.domain_name == "dunder-mifflin.sip.twilio.com"
    assert domain.friendly_name == "Scranton Office"
    assert (domain.voice_url, domain.voice_method) == ("https://app.example/voice", "GET")
    assert (domain.voice_fallback_url, domain.voice_fallback_method) == (None, "POST")
    assert (domain.voice_status_callback_url, domain.voice_status_callback_method) == (
        "https://app.example/status",
        "POST",
    )
    assert domain.sip_registration is True
    assert (domain.secure, domain.emergency_calling_enabled) == (False, False)
    assert (domain.byoc_trunk_sid, domain.emergency_caller_sid) == (None, None)
    assert domain.auth_type is None  # nothing mapped yet: the domain takes no traffic
    assert domain.date_created is not None and domain.date_updated is not None
    base = _sip(tel, f"Domains/{domain.sid}")
    assert domain.uri == base + ".json"
    assert domain.subresource_uris == {
        "credential_list_mappings": base + "/CredentialListMappings.json",
        "ip_access_control_list_mappings": base + "/IpAccessControlListMappings.json",
    }

    assert sdk.sip.domains(domain.sid).fetch().domain_name == "dunder-mifflin.sip.twilio.com"
    assert [d.sid for d in sdk.sip.domains.list()] == [domain.sid]

    updated = sdk.sip.domains(domain.sid).update(
        friendly_name="Stamford",
        voice_url="https://app.example/v2",
        voice_fallback_url="https://app.example/fallback",
        voice_fallback_method="GET",
        sip_registration=False,
        secure=True,
        emergency_calling_enabled=True,
        byoc_trunk_sid="BY" + "a" * 32,
        domain_name="Stamford.SIP.twilio.com",
    )
    assert updated.friendly_name == "Stamford"
    assert updated.domain_name == "stamford.sip.twilio.com"  # DNS names know no case
    assert (updated.voice_url, updated.voice_method) == ("https://app.example/v2", "GET")
    assert (updated.voice_fallback_url, updated.voice_fallback_method) == (
        "https://app.example/fallback",
        "GET",
    )
    assert (updated.sip_registration, updated.secure, updated.emergency_calling_enabled) == (
        False,
        True,
        True,
    )
    assert updated.byoc_trunk_sid == "BY" + "a" * 32
    assert updated.voice_status_callback_url == "https://app.example/status"  # untouched

    cleared = sdk.sip.domains(domain.sid).update(voice_url="", byoc_trunk_sid="")
    assert (cleared.voice_url, cleared.byoc_trunk_sid) == (None, None)

    assert sdk.sip.domains(domain.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.domains(domain.sid).fetch()
    _error(info, 404, 20404)
    assert sdk.sip.domains.list() == []


def test_domains_page_like_the_other_resources(tel: Telephonist, sdk: Client) -> None:
    sids = [sdk.sip.domains.create(domain_name=f"office-{i}.sip.twilio.com").sid for i in range(5)]
    assert [d.sid for d in sdk.sip.domains.list(page_size=2)] == sids[::-1]  # newest first, three pages
    with tel.http as h:
        r = h.get(_sip(tel, "Domains.json"), params={"PageSize": 2})
    assert r.status_code == 200
    page = r.json()
    validated("GET", r.request.url.path, 200, page)
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert (
        page["next_page_uri"].startswith(_sip(tel, "Domains.json?"))
        and "PageToken=PA" in page["next_page_uri"]
    )
    assert page["previous_page_uri"] is None


def test_domain_emergency_caller_must_be_a_number_of_the_account(tel: Telephonist, sdk: Client) -> None:
    number = sdk.incoming_phone_numbers.list(limit=1)[0]
    domain = sdk.sip.domains.create(
        domain_name="e911.sip.twilio.com", emergency_caller_sid=number.sid, emergency_calling_enabled=True
    )
    assert domain.emergency_caller_sid == number.sid
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.domains(domain.sid).update(emergency_caller_sid="PN" + "0" * 32)
    _error(info, 400, 21231)
    assert sdk.sip.domains(domain.sid).fetch().emergency_caller_sid == number.sid


@pytest.mark.parametrize(
    "name",
    [
        "",
        "office",
        "office.example.com",
        "sip.twilio.com",
        ".sip.twilio.com",
        "-office.sip.twilio.com",
        "office-.sip.twilio.com",
        "off_ice.sip.twilio.com",
        "off ice.sip.twilio.com",
        "office..sip.twilio.com",
        "office.sip.twilio.com.evil.example",
        "x" * 64 + ".sip.twilio.com",
    ],
)
def test_invalid_domain_name_is_21232_and_writes_nothing(tel: Telephonist, sdk: Client, name: str) -> None:
    with tel.http as h:
        r = h.post(_sip(tel, "Domains.json"), data={"DomainName": name, "FriendlyName": "bad"})
    assert_twilio_error(r, 400, 21232)
    assert sdk.sip.domains.list() == []


def test_missing_domain_name_is_21232(tel: Telephonist, sdk: Client) -> None:
    with tel.http as h:
        r = h.post(_sip(tel, "Domains.json"), data={"FriendlyName": "nameless"})
    assert_twilio_error(r, 400, 21232)
    assert "DomainName" in r.json()["message"]
    assert sdk.sip.domains.list() == []


def test_duplicate_domain_name_is_refused_whoever_holds_it(tel: Telephonist, sdk: Client) -> None:
    first = sdk.sip.domains.create(domain_name="taken.sip.twilio.com")
    for client, name in ((sdk, "taken.sip.twilio.com"), (_other_account(tel), "TAKEN.sip.twilio.com")):
        with pytest.raises(TwilioRestException) as info:
            client.sip.domains.create(domain_name=name)
        _error(info, 400, 21232)
    other = sdk.sip.domains.create(domain_name="free.sip.twilio.com")
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.domains(other.sid).update(domain_name="taken.sip.twilio.com", friendly_name="renamed")
    _error(info, 400, 21232)
    assert sdk.sip.domains(other.sid).fetch().friendly_name is None  # nothing half-written
    assert {d.sid for d in sdk.sip.domains.list()} == {first.sid, other.sid}


@pytest.mark.parametrize(
    "params",
    [
        {"VoiceUrl": "not a url"},
        {"VoiceFallbackUrl": "ftp://app.example/x"},
        {"VoiceStatusCallbackUrl": "app.example/status"},
        {"VoiceMethod": "PUT"},
        {"VoiceStatusCallbackMethod": "DELETE"},
        {"SipRegistration": "maybe"},
        {"Secure": "yes please"},
        {"ByocTrunkSid": "TK" + "0" * 32},
        {"EmergencyCallerSid": "nonsense"},
        {"FriendlyName": "x" * 65},
    ],
)
def test_invalid_domain_parameter_is_21231_and_writes_nothing(
    tel: Telephonist, sdk: Client, params: dict[str, str]
) -> None:
    with tel.http as h:
        r = h.post(_sip(tel, "Domains.json"), data={"DomainName": "office.sip.twilio.com", **params})
        assert_twilio_error(r, 400, 21231)
        assert sdk.sip.domains.list() == []
        domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com", friendly_name="kept")
        r = h.post(_sip(tel, f"Domains/{domain.sid}.json"), data={"FriendlyName": "changed", **params})
        assert_twilio_error(r, 400, 21231)
    assert sdk.sip.domains(domain.sid).fetch().friendly_name == "kept"


def test_subdomains_need_the_parent_and_keep_it(tel: Telephonist, sdk: Client) -> None:
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.domains.create(domain_name="desk.nowhere.sip.twilio.com")
    _error(info, 400, 21232)
    parent = sdk.sip.domains.create(domain_name="hq.sip.twilio.com")
    child = sdk.sip.domains.create(domain_name="desk.hq.sip.twilio.com")
    # A subaccount may use its parent account's domain; another account may not.
    sub = sdk.api.accounts.create(friendly_name="branch")
    branch = _client(tel, sub.sid, sub.auth_token)
    assert branch.sip.domains.create(domain_name="branch.hq.sip.twilio.com").account_sid == sub.sid
    with pytest.raises(TwilioRestException) as info:
        _other_account(tel).sip.domains.create(domain_name="intruder.hq.sip.twilio.com")
    _error(info, 400, 21232)

    for action in (
        lambda: sdk.sip.domains(parent.sid).delete(),
        lambda: sdk.sip.domains(parent.sid).update(domain_name="moved.sip.twilio.com"),
    ):
        with pytest.raises(TwilioRestException) as info:
            action()
        _error(info, 400, 21233)
    assert sdk.sip.domains(parent.sid).fetch().domain_name == "hq.sip.twilio.com"
    assert sdk.sip.domains(child.sid).delete() is True
    branch_domain = branch.sip.domains.list()[0]
    assert branch.sip.domains(branch_domain.sid).delete() is True
    assert sdk.sip.domains(parent.sid).delete() is True


# -- CredentialLists and Credentials ---------------------------------------------------------------------


def test_credential_list_create_fetch_list_update_delete(tel: Telephonist, sdk: Client) -> None:
    cl = sdk.sip.credential_lists.create(friendly_name="Low Rises")
    assert cl.sid.startswith("CL") and len(cl.sid) == 34
    assert (cl.account_sid, cl.friendly_name) == (tel.account_sid, "Low Rises")
    base = _sip(tel, f"CredentialLists/{cl.sid}")
    assert cl.uri == base + ".json"
    assert cl.subresource_uris == {"credentials": base + "/Credentials.json"}
    assert sdk.sip.credential_lists(cl.sid).fetch().friendly_name == "Low Rises"
    assert [c.sid for c in sdk.sip.credential_lists.list()] == [cl.sid]
    assert sdk.sip.credential_lists(cl.sid).update(friendly_name="High Rises").friendly_name == "High Rises"
    assert sdk.sip.credential_lists(cl.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.credential_lists(cl.sid).fetch()
    _error(info, 404, 20404)


def test_credential_list_names_are_required_short_and_unique(tel: Telephonist, sdk: Client) -> None:
    cl = sdk.sip.credential_lists.create(friendly_name="Office")
    with tel.http as h:
        for data in ({}, {"FriendlyName": ""}, {"FriendlyName": "x" * 65}, {"FriendlyName": "Office"}):
            assert_twilio_error(h.post(_sip(tel, "CredentialLists.json"), data=data), 400, 21240)
        other = sdk.sip.credential_lists.create(friendly_name="Home")
        r = h.post(_sip(tel, f"CredentialLists/{other.sid}.json"), data={"FriendlyName": "Office"})
        assert_twilio_error(r, 400, 21240)
        r = h.post(_sip(tel, f"CredentialLists/{other.sid}.json"), data={})
        assert_twilio_error(r, 400, 21240)
    assert {c.friendly_name for c in sdk.sip.credential_lists.list()} == {"Office", "Home"}
    # The same name in another account is that account's business.
    assert _other_account(tel).sip.credential_lists.create(friendly_name="Office").sid != cl.sid


def test_credentials_and_the_password_never_shown(tel: Telephonist, sdk: Client) -> None:
    cl = sdk.sip.credential_lists.create(friendly_name="Phones")
    creds = sdk.sip.credential_lists(cl.sid).credentials
    alice = creds.create(username="alice", password=PASSWORD)
    assert alice.sid.startswith("CR") and len(alice.sid) == 34
    assert (alice.username, alice.credential_list_sid, alice.account_sid) == (
        "alice",
        cl.sid,
        tel.account_sid,
    )
    assert alice.uri == _sip(tel, f"CredentialLists/{cl.sid}/Credentials/{alice.sid}.json")
    bob = creds.create(username="bob", password="An0therGoodOne")
    assert [c.username for c in creds.list()] == ["bob", "alice"]
    assert creds(alice.sid).fetch().username == "alice"
    updated = creds(alice.sid).update(password="Changed4Better")
    assert updated.username == "alice"
    assert creds(bob.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        creds(bob.sid).fetch()
    _error(info, 404, 20404)
    assert [c.sid for c in creds.list()] == [alice.sid]
    bodies = _bodies(sdk)
    assert len(bodies) >= 8
    for secret in (PASSWORD, "An0therGoodOne", "Changed4Better", "password"):
        assert not any(secret in body for body in bodies), secret


@pytest.mark.parametrize(
    "password",
    ["", "Short1Aa", "alllowercase123", "ALLUPPERCASE123", "NoDigitsAtAllHere", "12345678901234"],
)
def test_weak_password_is_21243_and_writes_nothing(tel: Telephonist, sdk: Client, password: str) -> None:
    cl = sdk.sip.credential_lists.create(friendly_name="Phones")
    path = _sip(tel, f"CredentialLists/{cl.sid}/Credentials")
    with tel.http as h:
        assert_twilio_error(
            h.post(path + ".json", data={"Username": "alice", "Password": password}), 400, 21243
        )
        assert sdk.sip.credential_lists(cl.sid).credentials.list() == []
        alice = sdk.sip.credential_lists(cl.sid).credentials.create(username="alice", password=PASSWORD)
        assert_twilio_error(h.post(f"{path}/{alice.sid}.json", data={"Password": password}), 400, 21243)
    with tel.db.read() as q:
        assert [r["password"] for r in q.all(_STORED)] == [PASSWORD]


def test_username_is_required_short_and_unique_in_its_list(tel: Telephonist, sdk: Client) -> None:
    one = sdk.sip.credential_lists.create(friendly_name="One")
    two = sdk.sip.credential_lists.create(friendly_name="Two")
    sdk.sip.credential_lists(one.sid).credentials.create(username="alice", password=PASSWORD)
    with tel.http as h:
        path = _sip(tel, f"CredentialLists/{one.sid}/Credentials.json")
        for username in ("", "x" * 33, "alice"):
            r = h.post(path, data={"Username": username, "Password": PASSWORD})
            assert_twilio_error(r, 400, 21243)
        r = h.post(path, data={"Password": PASSWORD})
        assert_twilio_error(r, 400, 21243)
    assert sdk.sip.credential_lists(two.sid).credentials.create(username="alice", password=PASSWORD)
    assert len(sdk.sip.credential_lists(one.sid).credentials.list()) == 1


# -- CredentialListMappings ------------------------------------------------------------------------------


def test_mappings_in_the_three_places(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com", sip_registration=True)
    staff = sdk.sip.credential_lists.create(friendly_name="Staff")
    phones = sdk.sip.credential_lists.create(friendly_name="Phones")
    auth = sdk.sip.domains(domain.sid).auth

    calls = auth.calls.credential_list_mappings.create(credential_list_sid=staff.sid)
    assert (calls.sid, calls.friendly_name, calls.account_sid) == (staff.sid, "Staff", tel.account_sid)
    assert sdk.sip.domains(domain.sid).fetch().auth_type == "CREDENTIAL_LIST"

    regs = auth.registrations.credential_list_mappings.create(credential_list_sid=phones.sid)
    assert (regs.sid, regs.friendly_name) == (phones.sid, "Phones")
    assert [m.sid for m in auth.registrations.credential_list_mappings.list()] == [phones.sid]
    assert auth.registrations.credential_list_mappings(phones.sid).fetch().friendly_name == "Phones"

    # The legacy mappings are the calls mappings.
    legacy = sdk.sip.domains(domain.sid).credential_list_mappings
    assert [m.sid for m in legacy.list()] == [staff.sid]
    mapped = legacy.create(credential_list_sid=phones.sid)
    assert (mapped.sid, mapped.domain_sid, mapped.friendly_name) == (phones.sid, domain.sid, "Phones")
    assert mapped.uri == _sip(tel, f"Domains/{domain.sid}/CredentialListMappings/{phones.sid}.json")
    assert [m.sid for m in auth.calls.credential_list_mappings.list()] == [phones.sid, staff.sid]
    assert legacy(staff.sid).fetch().domain_sid == domain.sid

    # A mapping shows its list's current name.
    sdk.sip.credential_lists(staff.sid).update(friendly_name="Everyone")
    assert auth.calls.credential_list_mappings(staff.sid).fetch().friendly_name == "Everyone"

    assert auth.calls.credential_list_mappings(staff.sid).delete() is True
    assert legacy(phones.sid).delete() is True
    for ctx in (auth.calls.credential_list_mappings(staff.sid), legacy(phones.sid)):
        with pytest.raises(TwilioRestException) as info:
            ctx.fetch()
        _error(info, 404, 20404)
    # Without calls mappings the domain has no auth_type again; registrations do not count.
    assert sdk.sip.domains(domain.sid).fetch().auth_type is None
    assert [m.sid for m in auth.registrations.credential_list_mappings.list()] == [phones.sid]
    assert auth.registrations.credential_list_mappings(phones.sid).delete() is True
    assert auth.registrations.credential_list_mappings.list() == []


def test_mapping_lists_page(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com")
    lists = [sdk.sip.credential_lists.create(friendly_name=f"L{i}").sid for i in range(3)]
    mappings = sdk.sip.domains(domain.sid).auth.calls.credential_list_mappings
    for sid in lists:
        mappings.create(credential_list_sid=sid)
    assert [m.sid for m in mappings.list(page_size=2)] == lists[::-1]
    legacy = sdk.sip.domains(domain.sid).credential_list_mappings
    assert [m.sid for m in legacy.list(page_size=1)] == lists[::-1]


def test_bad_mappings_are_21231_and_write_nothing(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com")
    staff = sdk.sip.credential_lists.create(friendly_name="Staff")
    foreign = _other_account(tel).sip.credential_lists.create(friendly_name="Theirs")
    places = (
        "Auth/Calls/CredentialListMappings",
        "Auth/Registrations/CredentialListMappings",
        "CredentialListMappings",
    )
    with tel.http as h:
        for place in places:
            path = _sip(tel, f"Domains/{domain.sid}/{place}.json")
            for data in (
                {},
                {"CredentialListSid": "CL" + "0" * 32},
                {"CredentialListSid": foreign.sid},
                {"CredentialListSid": "nonsense"},
            ):
                assert_twilio_error(h.post(path, data=data), 400, 21231)
        h.post(_sip(tel, f"Domains/{domain.sid}/{places[0]}.json"), data={"CredentialListSid": staff.sid})
        for place in (places[0], places[2]):  # the same mapping twice
            r = h.post(_sip(tel, f"Domains/{domain.sid}/{place}.json"), data={"CredentialListSid": staff.sid})
            assert_twilio_error(r, 400, 21231)
        r = h.post(
            _sip(tel, f"Domains/{'SD' + '0' * 32}/{places[0]}.json"), data={"CredentialListSid": staff.sid}
        )
        assert_twilio_error(r, 404, 20404)
    auth = sdk.sip.domains(domain.sid).auth
    assert [m.sid for m in auth.calls.credential_list_mappings.list()] == [staff.sid]
    assert auth.registrations.credential_list_mappings.list() == []


def test_deleting_a_mapped_list_is_21241(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com")
    cl = sdk.sip.credential_lists.create(friendly_name="Staff")
    sdk.sip.credential_lists(cl.sid).credentials.create(username="alice", password=PASSWORD)
    registrations = sdk.sip.domains(domain.sid).auth.registrations.credential_list_mappings
    registrations.create(credential_list_sid=cl.sid)
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.credential_lists(cl.sid).delete()
    _error(info, 400, 21241)
    assert len(sdk.sip.credential_lists(cl.sid).credentials.list()) == 1
    registrations(cl.sid).delete()
    assert sdk.sip.credential_lists(cl.sid).delete() is True
    with tel.db.read() as q:
        assert q.all(_STORED) == []  # its credentials went with it


def test_deleting_a_domain_takes_its_mappings_not_its_lists(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com")
    cl = sdk.sip.credential_lists.create(friendly_name="Staff")
    sdk.sip.domains(domain.sid).credential_list_mappings.create(credential_list_sid=cl.sid)
    assert sdk.sip.domains(domain.sid).delete() is True
    assert sdk.sip.credential_lists(cl.sid).delete() is True  # no longer mapped anywhere
    with tel.http as h:
        r = h.get(_sip(tel, f"Domains/{domain.sid}/CredentialListMappings.json"))
    assert_twilio_error(r, 404, 20404)


# -- Accounts --------------------------------------------------------------------------------------------


def test_every_account_sees_only_its_own(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="mine.sip.twilio.com")
    cl = sdk.sip.credential_lists.create(friendly_name="Mine")
    cred = sdk.sip.credential_lists(cl.sid).credentials.create(username="alice", password=PASSWORD)
    sdk.sip.domains(domain.sid).auth.calls.credential_list_mappings.create(credential_list_sid=cl.sid)

    other = _other_account(tel)
    assert other.sip.domains.list() == [] and other.sip.credential_lists.list() == []
    attempts = [
        lambda: other.sip.domains(domain.sid).fetch(),
        lambda: other.sip.domains(domain.sid).update(friendly_name="stolen"),
        lambda: other.sip.domains(domain.sid).delete(),
        lambda: other.sip.credential_lists(cl.sid).fetch(),
        lambda: other.sip.credential_lists(cl.sid).update(friendly_name="stolen"),
        lambda: other.sip.credential_lists(cl.sid).delete(),
        lambda: other.sip.credential_lists(cl.sid).credentials(cred.sid).fetch(),
        lambda: other.sip.credential_lists(cl.sid).credentials(cred.sid).update(password="Stolen4Ever1"),
        lambda: other.sip.credential_lists(cl.sid).credentials(cred.sid).delete(),
        lambda: other.sip.credential_lists(cl.sid).credentials.create(username="eve", password=PASSWORD),
        lambda: other.sip.domains(domain.sid).auth.calls.credential_list_mappings(cl.sid).fetch(),
        lambda: other.sip.domains(domain.sid).auth.calls.credential_list_mappings(cl.sid).delete(),
        lambda: other.sip.domains(domain.sid).credential_list_mappings.list(),
    ]
    for attempt in attempts:
        with pytest.raises(TwilioException) as info:  # a failed list page is a plain TwilioException
            attempt()
        if isinstance(info.value, TwilioRestException):
            _error(info, 404, 20404)
    # A credential is found only under its own list, even by its own account.
    elsewhere = sdk.sip.credential_lists.create(friendly_name="Elsewhere")
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.credential_lists(elsewhere.sid).credentials(cred.sid).fetch()
    _error(info, 404, 20404)
    # Nothing changed.
    assert sdk.sip.domains(domain.sid).fetch().friendly_name is None
    assert sdk.sip.credential_lists(cl.sid).fetch().friendly_name == "Mine"
    with tel.db.read() as q:
        assert sip_store.credentials(q, domain.sid, "calls") == {"alice": PASSWORD}


def test_parent_manages_its_subaccounts_domains(tel: Telephonist, sdk: Client) -> None:
    sub = sdk.api.accounts.create(friendly_name="branch")
    on_sub = sdk.api.accounts(sub.sid).sip
    domain = on_sub.domains.create(domain_name="branch.sip.twilio.com")
    assert domain.account_sid == sub.sid
    assert domain.uri == _sip(tel, f"Domains/{domain.sid}.json", account=sub.sid)
    assert sdk.sip.domains.list() == []  # the parent's own list holds only its own
    with pytest.raises(TwilioRestException) as info:
        sdk.sip.domains(domain.sid).fetch()
    _error(info, 404, 20404)
    branch = _client(tel, sub.sid, sub.auth_token)
    assert [d.sid for d in branch.sip.domains.list()] == [domain.sid]
    with httpx.Client(base_url=tel.base_url, auth=(sub.sid, sub.auth_token), timeout=10) as h:
        assert_twilio_error(h.get(_sip(tel, "Domains.json")), 401, 20003)  # not its parent's path
    # A suspended subaccount's domains stay readable; nothing new is made on it.
    sdk.api.accounts(sub.sid).update(status="suspended")
    with tel.http as h:
        r = h.post(_sip(tel, "Domains.json", account=sub.sid), data={"DomainName": "more.sip.twilio.com"})
        assert_twilio_error(r, 401, 20005)
        assert h.get(_sip(tel, "Domains.json", account=sub.sid)).status_code == 200


def test_account_lists_sip_among_its_subresources(tel: Telephonist, sdk: Client) -> None:
    uris = sdk.api.accounts(tel.account_sid).fetch().subresource_uris
    assert uris["sip"] == f"{API}/Accounts/{tel.account_sid}/SIP.json"


# -- What the SIP carrier reads --------------------------------------------------------------------------


def test_store_domain_by_name_ignores_case(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(
        domain_name="Front-Desk.sip.twilio.com", voice_url="https://app.example/v"
    )
    _other_account(tel).sip.domains.create(domain_name="other.sip.twilio.com")
    with tel.db.read() as q:
        row = sip_store.domain_by_name(q, "front-desk.SIP.TWILIO.COM")
        assert row is not None
        assert (row["sid"], row["account_sid"], row["domain_name"]) == (
            domain.sid,
            tel.account_sid,
            "front-desk.sip.twilio.com",
        )
        assert (row["voice_url"], row["voice_method"], row["sip_registration"]) == (
            "https://app.example/v",
            "POST",
            False,
        )
        assert sip_store.domain_by_name(q, "other.sip.twilio.com")["account_sid"] != tel.account_sid  # type: ignore[index]
        assert sip_store.domain_by_name(q, "nobody.sip.twilio.com") is None
    with tel.db.tx() as conn:  # a tx() connection serves as well
        assert sip_store.domain_by_name(conn, "FRONT-DESK.sip.twilio.com") is not None


def test_store_credentials_by_kind(tel: Telephonist, sdk: Client) -> None:
    domain = sdk.sip.domains.create(domain_name="office.sip.twilio.com", sip_registration=True)
    staff = sdk.sip.credential_lists.create(friendly_name="Staff")
    phones = sdk.sip.credential_lists.create(friendly_name="Phones")
    unmapped = sdk.sip.credential_lists.create(friendly_name="Unmapped")
    sdk.sip.credential_lists(staff.sid).credentials.create(username="alice", password=PASSWORD)
    bob = sdk.sip.credential_lists(staff.sid).credentials.create(username="bob", password="B0bsPassword")
    sdk.sip.credential_lists(phones.sid).credentials.create(username="desk-1", password="Desk1Password")
    sdk.sip.credential_lists(phones.sid).credentials.create(username="alice", password="AlicePhone12")
    sdk.sip.credential_lists(unmapped.sid).credentials.create(username="mallory", password="Mallory12345")

    def creds(kind: Any) -> dict[str, str]:
        with tel.db.read() as q:
            return sip_store.credentials(q, domain.sid, kind)

    assert creds("calls") == {} and creds("registrations") == {}
    sdk.sip.domains(domain.sid).credential_list_mappings.create(
        credential_list_sid=staff.sid
    )  # legacy = calls
    sdk.sip.domains(domain.sid).auth.registrations.credential_list_mappings.create(
        credential_list_sid=phones.sid
    )
    assert creds("calls") == {"alice": PASSWORD, "bob": "B0bsPassword"}
    assert creds("registrations") == {"desk-1": "Desk1Password", "alice": "AlicePhone12"}

    # Both lists for calls: a username in both keeps the password of the list mapped first.
    sdk.sip.domains(domain.sid).auth.calls.credential_list_mappings.create(credential_list_sid=phones.sid)
    assert creds("calls") == {"alice": PASSWORD, "bob": "B0bsPassword", "desk-1": "Desk1Password"}

    sdk.sip.credential_lists(staff.sid).credentials(bob.sid).update(password="N3wB0bPassword")
    assert creds("calls")["bob"] == "N3wB0bPassword"
    sdk.sip.credential_lists(staff.sid).credentials(bob.sid).delete()
    assert "bob" not in creds("calls")
    sdk.sip.domains(domain.sid).auth.calls.credential_list_mappings(staff.sid).delete()
    assert creds("calls") == {"desk-1": "Desk1Password", "alice": "AlicePhone12"}
    with pytest.raises(ValueError):
        creds("everything")
    with tel.db.read() as q:
        assert sip_store.credentials(q, "SD" + "0" * 32, "calls") == {}
