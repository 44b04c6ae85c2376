"""SIP Domains (SD…), CredentialLists (CL…) and their Credentials (CR…), and the credential lists mapped onto
a domain for calls (`Auth/Calls`, and the legacy `CredentialListMappings`, which are the same mappings) or
for registrations (`Auth/Registrations`). The SIP carrier reads them through `store/sip.py`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.numbers import is_url
from telephonist.sids import is_sid, new_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import (
    incoming_phone_numbers,
    sip_credential_list_mappings,
    sip_credential_lists,
    sip_credentials,
    sip_domains,
)

# Twilio's codes (error dictionary): 21231 Domain Validation Error, 21232 Invalid Domain (invalid, taken, or
# a subdomain of a domain the account does not control), 21233 Domain still has subdomains, 21240
# Credential List Validation Error, 21241 Credential List Dependencies Violation, 21243 Credential
# Validation Error.
DOMAIN_INVALID, BAD_NAME, HAS_SUBDOMAINS = 21231, 21232, 21233
LIST_INVALID, LIST_MAPPED, CREDENTIAL_INVALID = 21240, 21241, 21243

SUFFIX = ".sip.twilio.com"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_NAME = 64
MAX_USERNAME = 32
MIN_PASSWORD = 12

_domains, _lists, _creds, _maps = (
    sip_domains,
    sip_credential_lists,
    sip_credentials,
    sip_credential_list_mappings,
)

_DOMAIN_FIELDS = {
    "FriendlyName": ("friendly_name", "text"),
    "VoiceUrl": ("voice_url", "url"),
    "VoiceMethod": ("voice_method", "method"),
    "VoiceFallbackUrl": ("voice_fallback_url", "url"),
    "VoiceFallbackMethod": ("voice_fallback_method", "method"),
    "VoiceStatusCallbackUrl": ("voice_status_callback_url", "url"),
    "VoiceStatusCallbackMethod": ("voice_status_callback_method", "method"),
    "SipRegistration": ("sip_registration", "bool"),
    "EmergencyCallingEnabled": ("emergency_calling_enabled", "bool"),
    "Secure": ("secure", "bool"),
    "ByocTrunkSid": ("byoc_trunk_sid", "BY"),
    "EmergencyCallerSid": ("emergency_caller_sid", "PN"),
}
_DOMAIN_DEFAULTS: dict[str, Any] = {
    "friendly_name": None,
    "voice_method": "POST",
    "voice_fallback_method": "POST",
    "voice_status_callback_method": "POST",
    "sip_registration": False,
    "emergency_calling_enabled": False,
    "secure": False,
}


@contextmanager
def _unique(code: int, message: str) -> Iterator[None]:
    """A unique index refused the write (another request got there first): Twilio's error, all undone."""
    try:
        yield
    except IntegrityError:
        raise TwilioError(code, message) from None


def _sip_uri(account_sid: str) -> str:
    return f"{account_uri(account_sid)}/SIP"


# -- Domains -------------------------------------------------------------------------------------------


def render_domain(conn: Connection, row: Row) -> dict[str, Any]:
    base = f"{_sip_uri(row['account_sid'])}/Domains/{row['sid']}"
    # As on Twilio, auth_type names the kinds of authentication mapped for calls (IP_ACL is not served).
    mapped = conn.execute(
        select(_maps.c.seq).where(_maps.c.domain_sid == row["sid"], _maps.c.kind == "calls").limit(1)
    ).first()
    return {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "auth_type": "CREDENTIAL_LIST" if mapped else None,
        "byoc_trunk_sid": row["byoc_trunk_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "domain_name": row["domain_name"],
        "emergency_caller_sid": row["emergency_caller_sid"],
        "emergency_calling_enabled": row["emergency_calling_enabled"],
        "friendly_name": row["friendly_name"],
        "secure": row["secure"],
        "sid": row["sid"],
        "sip_registration": row["sip_registration"],
        "subresource_uris": {
            "credential_list_mappings": f"{base}/CredentialListMappings.json",
            "ip_access_control_list_mappings": f"{base}/IpAccessControlListMappings.json",
        },
        "uri": f"{base}.json",
        "voice_fallback_method": row["voice_fallback_method"],
        "voice_fallback_url": row["voice_fallback_url"],
        "voice_method": row["voice_method"],
        "voice_status_callback_method": row["voice_status_callback_method"],
        "voice_status_callback_url": row["voice_status_callback_url"],
        "voice_url": row["voice_url"],
    }


def _domain_name(value: str | None) -> str:
    """`<label>.sip.twilio.com` (or a subdomain of one), in lower case; 21232 otherwise."""
    if value is None or value == "":
        raise TwilioError(BAD_NAME, "Missing required parameter DomainName in the post body")
    name = value.strip().lower()
    labels = name[: -len(SUFFIX)].split(".") if name.endswith(SUFFIX) else []
    if not labels or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise TwilioError(
            BAD_NAME,
            f"DomainName {value} is not valid: it must end with {SUFFIX[1:]}, before which come letters, "
            "digits and '-'",
        )
    return name


def _check_name(conn: Connection, ctx: Ctx, name: str, sid: str | None) -> None:
    """The name is free, and a subdomain's parent belongs to the account or to its parent account."""
    taken = conn.execute(
        select(_domains.c.sid).where(_domains.c.domain_name == name, _domains.c.sid != (sid or ""))
    ).first()
    if taken is not None:
        raise TwilioError(BAD_NAME, f"DomainName {name} is already in use")
    parent = name.split(".", 1)[1]
    if parent != SUFFIX[1:]:
        owner = conn.execute(select(_domains.c.account_sid).where(_domains.c.domain_name == parent)).scalar()
        if owner not in (ctx.account_sid, ctx.account["owner_account_sid"]):
            raise TwilioError(
                BAD_NAME, f"DomainName {name} is a subdomain of {parent}, which is not a domain you control"
            )


def _has_subdomains(conn: Connection, name: str) -> bool:
    return (
        conn.execute(
            select(_domains.c.sid)
            .where(_domains.c.domain_name.endswith("." + name, autoescape=True))
            .limit(1)
        ).first()
        is not None
    )


def _domain_values(conn: Connection, ctx: Ctx) -> dict[str, Any]:
    """The columns the request sets, each checked (21231 for any that is not valid)."""
    values: dict[str, Any] = {}
    for name, (column, kind) in _DOMAIN_FIELDS.items():
        if name not in ctx.params:
            continue
        value = ctx.params.get(name) or ""
        if kind == "url":
            if value and not is_url(value):
                raise TwilioError(DOMAIN_INVALID, f"{name} is not a valid URL: {value}")
            values[column] = value or None
        elif kind == "method":
            values[column] = ctx.params.method(name, code=DOMAIN_INVALID)
        elif kind == "bool":
            if value.lower() not in ("true", "false", ""):
                raise TwilioError(DOMAIN_INVALID, f"{name} must be true or false, not '{value}'")
            values[column] = value.lower() == "true"
        elif kind == "text":
            if len(value) > MAX_NAME:
                raise TwilioError(DOMAIN_INVALID, f"{name} must be at most {MAX_NAME} characters")
            values[column] = value or None
        elif value and not is_sid(value, kind):
            raise TwilioError(DOMAIN_INVALID, f"{name} is not a valid {kind} SID: {value}")
        else:
            values[column] = value or None
    caller_sid = values.get("emergency_caller_sid")
    if caller_sid:
        ipn = incoming_phone_numbers
        owned = conn.execute(
            select(ipn.c.sid).where(ipn.c.sid == caller_sid, ipn.c.account_sid == ctx.account_sid)
        ).first()
        if owned is None:
            raise TwilioError(
                DOMAIN_INVALID, f"EmergencyCallerSid {caller_sid} is not a phone number of this account"
            )
    return values


def _fetch_domain(conn: Connection, row_sid: str) -> Row:
    return conn.execute(select(_domains).where(_domains.c.sid == row_sid)).mappings().one()


async def create_domain(request: Request) -> Response:
    ctx = await context(request)
    name = _domain_name(ctx.params.get("DomainName"))
    now = utcnow()
    sid = new_sid("SD")
    with _unique(BAD_NAME, f"DomainName {name} is already in use"), ctx.tx() as conn:
        _check_name(conn, ctx, name, None)
        values = _DOMAIN_DEFAULTS | _domain_values(conn, ctx)
        conn.execute(
            insert(_domains).values(
                sid=sid,
                account_sid=ctx.account_sid,
                domain_name=name,
                date_created=now,
                date_updated=now,
                **values,
            )
        )
        body = render_domain(conn, _fetch_domain(conn, sid))
    return json_response(body, 201)


async def list_domains(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        body = paginate(
            conn,
            _domains,
            [_domains.c.account_sid == ctx.account_sid],
            ctx.params,
            ctx.path,
            [],
            "domains",
            lambda row: render_domain(conn, row),
        )
    return json_response(body)


async def fetch_domain(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, _domains, request.path_params["Sid"], ctx.account_sid, ctx.path)
        body = render_domain(conn, row)
    return json_response(body)


async def update_domain(request: Request) -> Response:
    ctx = await context(request)
    with _unique(BAD_NAME, "DomainName is already in use"), ctx.tx() as conn:
        row = fetch_owned(conn, _domains, request.path_params["Sid"], ctx.account_sid, ctx.path)
        name = _domain_name(ctx.params.get("DomainName")) if "DomainName" in ctx.params else None
        values = _domain_values(conn, ctx)
        if name is not None and name != row["domain_name"]:
            _check_name(conn, ctx, name, row["sid"])
            if _has_subdomains(conn, row["domain_name"]):
                raise TwilioError(
                    HAS_SUBDOMAINS, f"Domain {row['domain_name']} cannot be renamed while it has subdomains"
                )
            values["domain_name"] = name
        conn.execute(
            update(_domains).where(_domains.c.sid == row["sid"]).values(date_updated=utcnow(), **values)
        )
        body = render_domain(conn, _fetch_domain(conn, row["sid"]))
    return json_response(body)


async def delete_domain(request: Request) -> Response:
    """Its credential list mappings go with it; the lists stay."""
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, _domains, request.path_params["Sid"], ctx.account_sid, ctx.path)
        if _has_subdomains(conn, row["domain_name"]):
            raise TwilioError(
                HAS_SUBDOMAINS, f"Domain {row['domain_name']} cannot be deleted while it has subdomains"
            )
        conn.execute(delete(_maps).where(_maps.c.domain_sid == row["sid"]))
        conn.execute(delete(_domains).where(_domains.c.sid == row["sid"]))
    return no_content()


# -- CredentialLists -----------------------------------------------------------------------------------


def render_credential_list(row: Row) -> dict[str, Any]:
    base = f"{_sip_uri(row['account_sid'])}/CredentialLists/{row['sid']}"
    return {
        "account_sid": row["account_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "friendly_name": row["friendly_name"],
        "sid": row["sid"],
        "subresource_uris": {"credentials": f"{base}/Credentials.json"},
        "uri": f"{base}.json",
    }


def _list_name(conn: Connection, ctx: Ctx, sid: str | None) -> str:
    name = ctx.params.get("FriendlyName") or ""
    if not name:
        raise TwilioError(LIST_INVALID, "Missing required parameter FriendlyName in the post body")
    if len(name) > MAX_NAME:
        raise TwilioError(LIST_INVALID, f"FriendlyName must be at most {MAX_NAME} characters")
    taken = conn.execute(
        select(_lists.c.sid).where(
            _lists.c.account_sid == ctx.account_sid,
            _lists.c.friendly_name == name,
            _lists.c.sid != (sid or ""),
        )
    ).first()
    if taken is not None:
        raise TwilioError(LIST_INVALID, f"A credential list named {name} already exists")
    return name


async def create_credential_list(request: Request) -> Response:
    ctx = await context(request)
    now = utcnow()
    sid = new_sid("CL")
    with _unique(LIST_INVALID, "A credential list with this FriendlyName already exists"), ctx.tx() as conn:
        name = _list_name(conn, ctx, None)
        conn.execute(
            insert(_lists).values(
                sid=sid, account_sid=ctx.account_sid, friendly_name=name, date_created=now, date_updated=now
            )
        )
        row = conn.execute(select(_lists).where(_lists.c.sid == sid)).mappings().one()
    return json_response(render_credential_list(row), 201)


async def list_credential_lists(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        body = paginate(
            conn,
            _lists,
            [_lists.c.account_sid == ctx.account_sid],
            ctx.params,
            ctx.path,
            [],
            "credential_lists",
            render_credential_list,
        )
    return json_response(body)


async def fetch_credential_list(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, _lists, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_credential_list(row))


async def update_credential_list(request: Request) -> Response:
    ctx = await context(request)
    with _unique(LIST_INVALID, "A credential list with this FriendlyName already exists"), ctx.tx() as conn:
        row = fetch_owned(conn, _lists, request.path_params["Sid"], ctx.account_sid, ctx.path)
        name = _list_name(conn, ctx, row["sid"])
        conn.execute(
            update(_lists).where(_lists.c.sid == row["sid"]).values(friendly_name=name, date_updated=utcnow())
        )
        row = conn.execute(select(_lists).where(_lists.c.sid == row["sid"])).mappings().one()
    return json_response(render_credential_list(row))


async def delete_credential_list(request: Request) -> Response:
    """Refused while a domain maps it (21241), as on Twilio; its credentials go with it."""
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, _lists, request.path_params["Sid"], ctx.account_sid, ctx.path)
        domain = conn.execute(
            select(_maps.c.domain_sid).where(_maps.c.credential_list_sid == row["sid"]).limit(1)
        ).scalar()
        if domain is not None:
            raise TwilioError(
                LIST_MAPPED,
                f"Credential list {row['sid']} is still mapped to SIP domain {domain}: unmap it first",
            )
        conn.execute(delete(_creds).where(_creds.c.credential_list_sid == row["sid"]))
        conn.execute(delete(_lists).where(_lists.c.sid == row["sid"]))
    return no_content()


# -- Credentials ---------------------------------------------------------------------------------------


def render_credential(row: Row) -> dict[str, Any]:
    """Never the password."""
    return {
        "account_sid": row["account_sid"],
        "credential_list_sid": row["credential_list_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "sid": row["sid"],
        "uri": (
            f"{_sip_uri(row['account_sid'])}/CredentialLists/{row['credential_list_sid']}"
            f"/Credentials/{row['sid']}.json"
        ),
        "username": row["username"],
    }


def _password(ctx: Ctx) -> str:
    """Twilio's rule: at least 12 characters, with a digit, an upper case and a lower case letter."""
    password = ctx.params.get("Password") or ""
    if not password:
        raise TwilioError(CREDENTIAL_INVALID, "Missing required parameter Password in the post body")
    if not (
        len(password) >= MIN_PASSWORD
        and any(c.isdigit() for c in password)
        and any(c.isupper() for c in password)
        and any(c.islower() for c in password)
    ):
        raise TwilioError(
            CREDENTIAL_INVALID,
            f"Password must be at least {MIN_PASSWORD} characters long and contain at least one digit, "
            "one upper case and one lower case letter",
        )
    return password


def _credential(conn: Connection, ctx: Ctx, list_sid: str, sid: str) -> Row:
    row = (
        conn.execute(select(_creds).where(_creds.c.sid == sid, _creds.c.credential_list_sid == list_sid))
        .mappings()
        .first()
    )
    if row is None:
        raise not_found(ctx.path)
    return row


async def create_credential(request: Request) -> Response:
    ctx = await context(request)
    username = ctx.params.get("Username") or ""
    taken = f"Username {username} is already in this credential list"
    with _unique(CREDENTIAL_INVALID, taken), ctx.tx() as conn:
        cl = fetch_owned(conn, _lists, request.path_params["CredentialListSid"], ctx.account_sid, ctx.path)
        if not username:
            raise TwilioError(CREDENTIAL_INVALID, "Missing required parameter Username in the post body")
        if len(username) > MAX_USERNAME:
            raise TwilioError(CREDENTIAL_INVALID, f"Username must be at most {MAX_USERNAME} characters")
        password = _password(ctx)
        exists_ = conn.execute(
            select(_creds.c.sid).where(
                _creds.c.credential_list_sid == cl["sid"], _creds.c.username == username
            )
        ).first()
        if exists_ is not None:
            raise TwilioError(CREDENTIAL_INVALID, taken)
        now = utcnow()
        sid = new_sid("CR")
        conn.execute(
            insert(_creds).values(
                sid=sid,
                account_sid=ctx.account_sid,
                credential_list_sid=cl["sid"],
                username=username,
                password=password,
                date_created=now,
                date_updated=now,
            )
        )
        row = _credential(conn, ctx, cl["sid"], sid)
    return json_response(render_credential(row), 201)


async def list_credentials(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        cl = fetch_owned(conn, _lists, request.path_params["CredentialListSid"], ctx.account_sid, ctx.path)
        body = paginate(
            conn,
            _creds,
            [_creds.c.credential_list_sid == cl["sid"]],
            ctx.params,
            ctx.path,
            [],
            "credentials",
            render_credential,
        )
    return json_response(body)


async def fetch_credential(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        cl = fetch_owned(conn, _lists, request.path_params["CredentialListSid"], ctx.account_sid, ctx.path)
        row = _credential(conn, ctx, cl["sid"], request.path_params["Sid"])
    return json_response(render_credential(row))


async def update_credential(request: Request) -> Response:
    """Only the password changes (the username is the credential's identity)."""
    ctx = await context(request)
    with ctx.tx() as conn:
        cl = fetch_owned(conn, _lists, request.path_params["CredentialListSid"], ctx.account_sid, ctx.path)
        row = _credential(conn, ctx, cl["sid"], request.path_params["Sid"])
        password = _password(ctx) if "Password" in ctx.params else None
        if password is not None:
            conn.execute(
                update(_creds)
                .where(_creds.c.sid == row["sid"])
                .values(password=password, date_updated=utcnow())
            )
            row = _credential(conn, ctx, cl["sid"], row["sid"])
    return json_response(render_credential(row))


async def delete_credential(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        cl = fetch_owned(conn, _lists, request.path_params["CredentialListSid"], ctx.account_sid, ctx.path)
        row = _credential(conn, ctx, cl["sid"], request.path_params["Sid"])
        conn.execute(delete(_creds).where(_creds.c.sid == row["sid"]))
    return no_content()


# -- CredentialListMappings ------------------------------------------------------------------------------

# One set of routes per place: (path under the domain, kind, list key, legacy rendering with domain_sid/uri).
_MAPPINGS = (
    ("Auth/Calls/CredentialListMappings", "calls", "contents", False),
    ("Auth/Registrations/CredentialListMappings", "registrations", "contents", False),
    ("CredentialListMappings", "calls", "credential_list_mappings", True),
)
_MAPPING_COLUMNS = (
    _maps.c.seq,
    _maps.c.account_sid,
    _maps.c.domain_sid,
    _maps.c.credential_list_sid,
    _maps.c.date_created,
    _maps.c.date_updated,
    _lists.c.friendly_name,
)


def render_mapping(row: Row, legacy: bool) -> dict[str, Any]:
    """A mapping is known by its list's SID and shows its list's name."""
    body = {
        "account_sid": row["account_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "friendly_name": row["friendly_name"],
        "sid": row["credential_list_sid"],
    }
    if legacy:
        base = f"{_sip_uri(row['account_sid'])}/Domains/{row['domain_sid']}"
        body |= {
            "domain_sid": row["domain_sid"],
            "uri": f"{base}/CredentialListMappings/{row['credential_list_sid']}.json",
        }
    return body


def _mapping(conn: Connection, ctx: Ctx, domain_sid: str, kind: str, list_sid: str) -> Row:
    row = (
        conn.execute(
            select(*_MAPPING_COLUMNS).where(
                _maps.c.domain_sid == domain_sid,
                _maps.c.kind == kind,
                _maps.c.credential_list_sid == list_sid,
                _lists.c.sid == _maps.c.credential_list_sid,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found(ctx.path)
    return row


def _mapping_handlers(kind: str, list_key: str, legacy: bool) -> list[tuple[str, str, Any]]:
    """(path suffix, method, handler) of the list, create, fetch and delete of one place's mappings."""

    async def create(request: Request) -> Response:
        ctx = await context(request)
        list_sid = ctx.params.get("CredentialListSid") or ""
        if not list_sid:
            raise TwilioError(DOMAIN_INVALID, "Missing required parameter CredentialListSid in the post body")
        mapped = f"Credential list {list_sid} is already mapped to this domain for {kind}"
        with _unique(DOMAIN_INVALID, mapped), ctx.tx() as conn:
            domain = fetch_owned(conn, _domains, request.path_params["DomainSid"], ctx.account_sid, ctx.path)
            owned = (
                is_sid(list_sid, "CL")
                and conn.execute(
                    select(_lists.c.sid).where(
                        _lists.c.sid == list_sid, _lists.c.account_sid == ctx.account_sid
                    )
                ).first()
            )
            if not owned:
                raise TwilioError(
                    DOMAIN_INVALID, f"CredentialListSid {list_sid} is not a credential list of this account"
                )
            already = conn.execute(
                select(
                    exists().where(
                        _maps.c.domain_sid == domain["sid"],
                        _maps.c.kind == kind,
                        _maps.c.credential_list_sid == list_sid,
                    )
                )
            ).scalar()
            if already:
                raise TwilioError(DOMAIN_INVALID, mapped)
            now = utcnow()
            conn.execute(
                insert(_maps).values(
                    account_sid=ctx.account_sid,
                    domain_sid=domain["sid"],
                    kind=kind,
                    credential_list_sid=list_sid,
                    date_created=now,
                    date_updated=now,
                )
            )
            row = _mapping(conn, ctx, domain["sid"], kind, list_sid)
        return json_response(render_mapping(row, legacy), 201)

    async def list_(request: Request) -> Response:
        ctx = await context(request)
        with ctx.tx() as conn:
            domain = fetch_owned(conn, _domains, request.path_params["DomainSid"], ctx.account_sid, ctx.path)
            where = [
                _maps.c.domain_sid == domain["sid"],
                _maps.c.kind == kind,
                _lists.c.sid == _maps.c.credential_list_sid,
            ]
            body = paginate(
                conn,
                _maps,
                where,
                ctx.params,
                ctx.path,
                [],
                list_key,
                lambda row: render_mapping(row, legacy),
                columns=_MAPPING_COLUMNS,
            )
        return json_response(body)

    async def fetch(request: Request) -> Response:
        ctx = await context(request)
        with ctx.tx() as conn:
            domain = fetch_owned(conn, _domains, request.path_params["DomainSid"], ctx.account_sid, ctx.path)
            row = _mapping(conn, ctx, domain["sid"], kind, request.path_params["Sid"])
        return json_response(render_mapping(row, legacy))

    async def delete_(request: Request) -> Response:
        ctx = await context(request)
        with ctx.tx() as conn:
            domain = fetch_owned(conn, _domains, request.path_params["DomainSid"], ctx.account_sid, ctx.path)
            row = _mapping(conn, ctx, domain["sid"], kind, request.path_params["Sid"])
            conn.execute(
                delete(_maps).where(
                    _maps.c.domain_sid == domain["sid"],
                    _maps.c.kind == kind,
                    _maps.c.credential_list_sid == row["credential_list_sid"],
                )
            )
        return no_content()

    return [
        (".json", "GET", list_),
        (".json", "POST", create),
        ("/{Sid}.json", "GET", fetch),
        ("/{Sid}.json", "DELETE", delete_),
    ]


_SIP = f"{API}/Accounts/{{AccountSid}}/SIP"
routes = [
    Route(f"{_SIP}/Domains.json", list_domains, methods=["GET"]),
    Route(f"{_SIP}/Domains.json", create_domain, methods=["POST"]),
    Route(f"{_SIP}/Domains/{{Sid}}.json", fetch_domain, methods=["GET"]),
    Route(f"{_SIP}/Domains/{{Sid}}.json", update_domain, methods=["POST"]),
    Route(f"{_SIP}/Domains/{{Sid}}.json", delete_domain, methods=["DELETE"]),
    *(
        Route(f"{_SIP}/Domains/{{DomainSid}}/{place}{suffix}", handler, methods=[method])
        for place, kind, key, legacy in _MAPPINGS
        for suffix, method, handler in _mapping_handlers(kind, key, legacy)
    ),
    Route(f"{_SIP}/CredentialLists.json", list_credential_lists, methods=["GET"]),
    Route(f"{_SIP}/CredentialLists.json", create_credential_list, methods=["POST"]),
    Route(f"{_SIP}/CredentialLists/{{Sid}}.json", fetch_credential_list, methods=["GET"]),
    Route(f"{_SIP}/CredentialLists/{{Sid}}.json", update_credential_list, methods=["POST"]),
    Route(f"{_SIP}/CredentialLists/{{Sid}}.json", delete_credential_list, methods=["DELETE"]),
    Route(
        f"{_SIP}/CredentialLists/{{CredentialListSid}}/Credentials.json", list_credentials, methods=["GET"]
    ),
    Route(
        f"{_SIP}/CredentialLists/{{CredentialListSid}}/Credentials.json", create_credential, methods=["POST"]
    ),
    Route(
        f"{_SIP}/CredentialLists/{{CredentialListSid}}/Credentials/{{Sid}}.json",
        fetch_credential,
        methods=["GET"],
    ),
    Route(
        f"{_SIP}/CredentialLists/{{CredentialListSid}}/Credentials/{{Sid}}.json",
        update_credential,
        methods=["POST"],
    ),
    Route(
        f"{_SIP}/CredentialLists/{{CredentialListSid}}/Credentials/{{Sid}}.json",
        delete_credential,
        methods=["DELETE"],
    ),
]
