"""What a new user tries first, end to end with a real Flask app: a two-level IVR, and a call transferred
by a REST update in the middle of a <Say>."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask, request
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.serving import make_server

from conftest import Telephonist, free_port, wait_until

from .support import events, phone, place


def ivr_app() -> Flask:
    app = Flask("ivr")

    @app.post("/voice")
    def voice() -> str:
        r = VoiceResponse()
        g = Gather(num_digits=1, action="/department", timeout=3)
        g.say("Welcome. Press 1 for sales, 2 for support.")
        r.append(g)
        r.redirect("/voice")  # no choice: the menu again
        return str(r)

    @app.post("/department")
    def department() -> str:
        r = VoiceResponse()
        if request.form["Digits"] == "2":
            g = Gather(num_digits=1, action="/support")
            g.say("Support. Press 1 for billing, 2 for a technician.")
            r.append(g)
        else:
            r.say("Sales is closed today.")
        return str(r)

    @app.post("/support")
    def support() -> str:
        r = VoiceResponse()
        r.say(
            {"1": "Billing will call you back.", "2": "A technician will call you back."}[
                request.form["Digits"]
            ]
        )
        r.hangup()
        return str(r)

    @app.post("/transfer")
    def transfer() -> str:
        r = VoiceResponse()
        r.say("You have been transferred to the front desk.")
        return str(r)

    return app


@pytest.fixture
def ivr() -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, ivr_app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_two_level_ivr(tel: Telephonist, ivr: str) -> None:
    phone(tel, GatherInput=["", "2", "2"])  # nothing at first: the menu is said again
    sid = place(tel, ivr + "/voice")
    tel.call_final(sid)
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == [
        "Welcome. Press 1 for sales, 2 for support.",
        "Welcome. Press 1 for sales, 2 for support.",
        "Support. Press 1 for billing, 2 for a technician.",
        "A technician will call you back.",
    ]
    assert [e["digits"] for e in events(tel, sid, "gather")] == ["", "2", "2"]


def test_call_transferred_by_rest_update_in_the_middle_of_a_say(tel: Telephonist, ivr: str) -> None:
    long_say = "<Response><Say>" + "Please hold while we look up your account. " * 40 + "</Say></Response>"
    sid = place(tel, twiml=long_say)
    wait_until(lambda: events(tel, sid, "say"))
    tel.client().calls(sid).update(url=ivr + "/transfer", method="POST")
    tel.call_final(sid)
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said[-1] == "You have been transferred to the front desk." and len(said) == 2
    hangup = events(tel, sid, "hangup")[-1]
    assert hangup["by"] == "platform"
