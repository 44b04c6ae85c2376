"""Helpers shared by the voice end-to-end tests."""

from __future__ import annotations

from typing import Any

from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from conftest import AUTH_TOKEN, Hit, Telephonist, wait_until

PLATFORM_NUMBER = "+15005550006"  # the default account's number
PHONE = "+15551230000"  # a virtual phone


def signed(hit: Hit) -> bool:
    """What an application does with twilio's validator: URL as requested, the form as received."""
    return bool(
        RequestValidator(AUTH_TOKEN).validate(hit.url, MultiDict(hit.form), hit.headers["X-Twilio-Signature"])
    )


def params(hit: Hit) -> dict[str, str]:
    """Every parameter of a webhook request, from the body (POST) or the query string (GET); last wins."""
    out = {k: v[-1] for k, v in hit.args.items()}
    out |= {k: v[-1] for k, v in hit.form.items()}
    return out


def place(tel: Telephonist, url: str | None = None, to: str = PHONE, **kwargs: Any) -> str:
    """Place an outbound-api call from the default number; returns its sid."""
    if url is not None:
        kwargs["url"] = url
    call = tel.client().calls.create(to=to, from_=PLATFORM_NUMBER, **kwargs)
    return str(call.sid)


def phone(tel: Telephonist, number: str = PHONE, **config: Any) -> dict[str, Any]:
    r = tel.sim("POST", "/Phones", PhoneNumber=number, **config)
    assert r.status_code == 201, r.text
    return dict(r.json())


def events(tel: Telephonist, sid: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in tel.transcript(sid) if kind is None or e["event"] == kind]


def wait_event(
    tel: Telephonist, sid: str, kind: str, count: int = 1, timeout: float = 10.0
) -> list[dict[str, Any]]:
    return wait_until(lambda: len(found := events(tel, sid, kind)) >= count and found, timeout)  # type: ignore[no-any-return]


def wait_status(tel: Telephonist, sid: str, status: str, timeout: float = 10.0) -> Any:
    client = tel.client()
    return wait_until(lambda: (c := client.calls(sid).fetch()).status == status and c, timeout)


def buy(tel: Telephonist, number: str, **config: Any) -> Any:
    return tel.client().incoming_phone_numbers.create(phone_number=number, **config)


def set_voice_url(tel: Telephonist, number: str, url: str, **config: Any) -> Any:
    """Point a platform number's VoiceUrl at url (the number must exist)."""
    client = tel.client()
    [pn] = client.incoming_phone_numbers.list(phone_number=number)
    return client.incoming_phone_numbers(pn.sid).update(voice_url=url, **config)


def notifications(tel: Telephonist, sid: str) -> list[Any]:
    return list(tel.client().calls(sid).notifications.list())


def server_alive(tel: Telephonist) -> None:
    """The platform still serves REST and runs calls."""
    account = tel.client().api.accounts(tel.account_sid).fetch()
    assert account.sid == tel.account_sid
    sid = place(tel, twiml="<Response><Say>Still here</Say></Response>", to="+15551239999")
    assert tel.call_final(sid).status == "completed"
    assert [e["text"] for e in events(tel, sid, "say")] == ["Still here"]
