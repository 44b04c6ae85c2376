"""The guide's three examples, with twilio 9.x, against a real Telephonist: a call through the message
twimlet, an SMS to a phone, and a call whose TwiML comes from the developer's own Flask or Django site."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask import Response as FlaskResponse
from flask import request as flask_request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server

from conftest import AUTH_TOKEN, Telephonist, free_port, wait_until


def test_outbound_call_says_hello_world_through_the_message_twimlet(tel: Telephonist) -> None:
    client = tel.client()
    url = "http://twimlets.com/message?"
    call = client.calls.create(
        to="+15551230100", from_="+15005550006", url=url + urlencode({"Message": "Hello world."})
    )
    assert call.sid.startswith("CA") and call.status == "queued"
    done = tel.call_final(call.sid)
    assert done.status == "completed"
    assert done.direction == "outbound-api"
    assert done.start_time is not None and done.end_time is not None
    said = [e for e in tel.transcript(call.sid) if e["event"] == "say"]
    assert said == [{"event": "say", "text": "Hello world.", "voice": "man", "language": "en"}]
    assert tel.transcript(call.sid)[-1] == {"event": "hangup", "by": "platform"}


def test_indexed_twimlet_messages_say_and_play_in_order(tel: Telephonist) -> None:
    url = "http://twimlets.com/message?" + urlencode(
        {"Message[0]": "Hello World", "Message[1]": "http://example.com/a.mp3", "Message[2]": "Bye"}
    )
    call = tel.client().calls.create(to="+15551230101", from_="+15005550006", url=url)
    tel.call_final(call.sid)
    events = [(e["event"], e.get("text") or e.get("url")) for e in tel.transcript(call.sid)]
    assert events == [
        ("say", "Hello World"),
        ("play", "http://example.com/a.mp3"),
        ("say", "Bye"),
        ("hangup", None),
    ]


def test_sms_reaches_the_phone(tel: Telephonist) -> None:
    client = tel.client()
    message = client.messages.create(to="+15551230102", from_="+15005550006", body="Hello world.")
    assert message.status == "queued" and message.num_segments == "1" and message.direction == "outbound-api"
    wait_until(lambda: client.messages(message.sid).fetch().status == "delivered")
    inbox = tel.sim("GET", "/Phones/+15551230102").json()["messages"]
    assert [(m["sid"], m["from"], m["body"]) for m in inbox] == [
        (message.sid, "+15005550006", "Hello world.")
    ]


def test_seed_numbers_without_plus_are_accepted(tel: Telephonist) -> None:
    # The guide writes numbers as NNNNNNNNNNN.
    message = tel.client().messages.create(to="15551230103", from_="15005550006", body="Hi")
    assert message.to == "+15551230103" and message.from_ == "+15005550006"


class _Site:
    def __init__(self, wsgi_app: object) -> None:
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, wsgi_app, threaded=True)  # type: ignore[arg-type]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/"


@pytest.fixture
def flask_site() -> Iterator[tuple[_Site, list[bool]]]:
    app = Flask(__name__)
    valid: list[bool] = []

    @app.route("/", methods=["GET", "POST"])
    def hello() -> FlaskResponse:
        validator = RequestValidator(AUTH_TOKEN)
        valid.append(
            validator.validate(
                flask_request.url, flask_request.form, flask_request.headers["X-Twilio-Signature"]
            )
        )
        xml = "<Response><Say>Hello world.</Say></Response>"
        return FlaskResponse(xml, mimetype="text/xml")

    site = _Site(app)
    yield site, valid
    site.server.shutdown()


def test_twiml_from_a_flask_site(tel: Telephonist, flask_site: tuple[_Site, list[bool]]) -> None:
    site, valid = flask_site
    call = tel.client().calls.create(to="+15551230104", from_="+15005550006", url=site.url)
    assert tel.call_final(call.sid).status == "completed"
    assert valid == [True]
    assert [e.get("text") for e in tel.transcript(call.sid) if e["event"] == "say"] == ["Hello world."]


@pytest.fixture
def django_site() -> Iterator[_Site]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF=__name__, SECRET_KEY="test", MIDDLEWARE=[]
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    site = _Site(get_wsgi_application())
    yield site
    site.server.shutdown()


def _django_hello(request: object) -> object:
    from django.http import HttpResponse

    response = VoiceResponse()
    response.say("Hello world.")
    return HttpResponse(str(response), content_type="text/xml")


def _urlpatterns() -> list[object]:
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    return [path("", csrf_exempt(_django_hello))]


def __getattr__(name: str) -> object:  # Django reads urlpatterns lazily from ROOT_URLCONF
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def test_twiml_from_a_django_view(tel: Telephonist, django_site: _Site) -> None:
    call = tel.client().calls.create(to="+15551230105", from_="+15005550006", url=django_site.url)
    assert tel.call_final(call.sid).status == "completed"
    assert [e.get("text") for e in tel.transcript(call.sid) if e["event"] == "say"] == ["Hello world."]
