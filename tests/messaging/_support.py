"""Helpers shared by the messaging end-to-end tests (not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from conftest import AUTH_TOKEN, Hit, Telephonist, database_url, wait_until
from telephonist.store.models import jobs

PLATFORM_NUMBER = "+15005550006"
# A 1×1 PNG: what an MMS carries in these tests.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def signed(hit: Hit, token: str = AUTH_TOKEN) -> bool:
    """What an application does with X-Twilio-Signature: validate it against the URL and the form it got."""
    header = hit.headers.get("X-Twilio-Signature", "")
    params = {k: v[-1] for k, v in hit.form.items()} if hit.method == "POST" else {}
    return bool(header) and RequestValidator(token).validate(hit.url, params, header)


def flat(hit: Hit) -> dict[str, str]:
    """All parameters of a webhook request, from the form (POST) or the query (GET), single-valued."""
    source = hit.form if hit.method == "POST" else hit.args
    return {k: v[-1] for k, v in source.items()}


def number_sid(client: Client, number: str = PLATFORM_NUMBER) -> str:
    [owned] = client.incoming_phone_numbers.list(phone_number=number)
    return str(owned.sid)


def set_sms(client: Client, number: str = PLATFORM_NUMBER, **config: Any) -> None:
    """Configure an owned number through the SDK, as the guide does (update by PN sid)."""
    client.incoming_phone_numbers(number_sid(client, number)).update(**config)


def buy(client: Client, number: str, **config: Any) -> str:
    """Buy a number with its SMS configuration in the create request; returns its PN sid."""
    return str(client.incoming_phone_numbers.create(phone_number=number, **config).sid)


def inbox(tel: Telephonist, phone: str) -> list[dict[str, Any]]:
    r = tel.sim("GET", f"/Phones/{phone}")
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def wait_inbox(tel: Telephonist, phone: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
    return wait_until(lambda: len(m := inbox(tel, phone)) >= count and m, timeout)  # type: ignore[no-any-return]


def text_in(tel: Telephonist, phone: str, body: str, to: str = PLATFORM_NUMBER) -> str:
    """The outside world (a virtual phone) texts a platform number; returns the inbound MessageSid."""
    r = tel.sim("POST", f"/Phones/{phone}/Messages", To=to, Body=body)
    assert r.status_code == 201, r.text
    return str(r.json()["sid"])


def pending_jobs(url: str) -> int:
    """Durable jobs still in the platform's database (read through a connection of its own)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())
    finally:
        engine.dispose()


def settle(tmp_path: Path, timeout: float = 10.0) -> None:
    """Wait until the platform has no work left (every send, receipt, webhook and callback done)."""
    url = database_url(tmp_path)
    wait_until(lambda: pending_jobs(url) == 0, timeout)
