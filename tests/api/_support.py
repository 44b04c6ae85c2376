"""Helpers shared by the REST tests: resource paths on the wire, counting rows, waiting for delivery."""

from __future__ import annotations

from typing import Any

from twilio.rest import Client

from conftest import Telephonist, wait_until

API = "/2010-04-01"
FROM = "+15005550006"  # the default account's number


def resource_path(tel: Telephonist, resource: str, rest: str = "") -> str:
    """`/2010-04-01/Accounts/{AC}/{resource}{rest}` of the default account."""
    return f"{API}/Accounts/{tel.account_sid}/{resource}{rest}"


def count(tel: Telephonist, resource: str, key: str) -> int:
    """How many rows a list of the default account returns (one page of up to 1000)."""
    with tel.http as h:
        r = h.get(resource_path(tel, resource, ".json"), params={"PageSize": 1000})
    assert r.status_code == 200, r.text
    return len(r.json()[key])


def delivered(client: Client, sid: str, account: str | None = None) -> Any:
    """The message once it is delivered (of a subaccount when `account` is given)."""
    ctx = client.api.accounts(account) if account else client
    return wait_until(lambda: (m := ctx.messages(sid).fetch()).status == "delivered" and m)


def without(valid: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in valid.items() if k != name}
