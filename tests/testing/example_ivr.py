"""The README's example: a small Flask IVR and its tests, run against the `telephonist` fixture."""

import threading

import pytest
from flask import Flask, request
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.serving import make_server

app = Flask(__name__)
CHOICES = {"1": "Thank you. Connecting you to sales.", "2": "Thank you. Connecting you to support."}


@app.route("/voice", methods=["POST"])
def voice():
    response = VoiceResponse()
    gather = Gather(num_digits=1, action="/menu")
    gather.say("Press 1 for sales, 2 for support.")
    response.append(gather)
    response.say("We did not get your choice. Goodbye.")
    return str(response)


@app.route("/menu", methods=["POST"])
def menu():
    response = VoiceResponse()
    response.say(CHOICES.get(request.form["Digits"], "Sorry, that is not a choice."))
    return str(response)


@pytest.fixture
def app_url():
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_press_1_for_sales(telephonist, app_url):
    telephonist.number.update(voice_url=app_url + "/voice")
    phone = telephonist.phone("+15551230000", gather=["1"])
    call = phone.call(telephonist.number.phone_number)
    call.wait()
    assert "Thank you. Connecting you to sales." in call.said


def test_no_choice_says_goodbye(telephonist, app_url):
    telephonist.number.update(voice_url=app_url + "/voice")
    call = telephonist.phone("+15551230000").call(telephonist.number.phone_number).wait()
    assert call.said.splitlines() == [
        "Press 1 for sales, 2 for support.",
        "We did not get your choice. Goodbye.",
    ]


def test_an_sms_reaches_a_phone(telephonist):
    telephonist.client.messages.create(to="+15551230000", from_=telephonist.number.phone_number, body="Hi")
    [message] = telephonist.phone("+15551230000").wait_for_message()
    assert message["body"] == "Hi"
