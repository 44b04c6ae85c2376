"""What the SIP carrier asks of SIP Domains: the domain a request is addressed to, and the usernames and
passwords of the credential lists mapped onto it, to check a digest against."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import bindparam, select

from telephonist.store.db import Row, Tx, raw
from telephonist.store.models import sip_credential_list_mappings, sip_credentials, sip_domains

_DOMAIN = select(sip_domains).where(sip_domains.c.domain_name == bindparam("name"))
_m, _c = sip_credential_list_mappings, sip_credentials
_CREDENTIALS = (
    select(_c.c.username, _c.c.password)
    .where(
        _m.c.domain_sid == bindparam("domain_sid"),
        _m.c.kind == bindparam("kind"),
        _c.c.credential_list_sid == _m.c.credential_list_sid,
    )
    .order_by(_m.c.seq.desc(), _c.c.seq.desc())
)
KINDS = ("calls", "registrations")


def domain_by_name(conn: Tx, name: str) -> Row | None:
    """The Domains row (of any account) named `name`, whatever its case."""
    return raw(conn).first(_DOMAIN, name=name.lower())


def credentials(conn: Tx, domain_sid: str, kind: Literal["calls", "registrations"]) -> dict[str, str]:
    """username -> password of every credential in the lists mapped onto the domain for `kind` (the legacy
    `CredentialListMappings` are the calls mappings). A username in several lists takes the password of
    the list mapped first."""
    if kind not in KINDS:
        raise ValueError(f"kind must be calls or registrations, not {kind!r}")
    # Newest first, so that the oldest mapping's password is the one left in the dict.
    return {
        row["username"]: row["password"]
        for row in raw(conn).all(_CREDENTIALS, domain_sid=domain_sid, kind=kind)
    }
